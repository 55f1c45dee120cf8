"""Key lifecycle: rotating, rewrapping, re-encrypting, shredding and verifying, as operations
on the configured store and keyring. The manage.py commands of the same names run them."""
