"""The read path, in one place: ``opening`` fetches nothing and opens sealed records in batches;
``fields`` picks out what people read of a Telegram message (sender, text, media); ``as_api``
and ``as_admin`` shape an opened record for the API's JSON and the admin's templates."""
