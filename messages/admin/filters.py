"""The chat page's filters (also what an export from the page takes)."""

from __future__ import annotations

from django import forms

from messages.stores.records import MessageQuery
from messages.telegram import KINDS

PAGE_SIZE = 50


def _moment(label: str) -> forms.DateTimeField:
    """A date and time picked in the browser's own picker, in the viewer's time zone; one
    typed as 2026-11-02 09:00 is taken too."""
    return forms.DateTimeField(
        required=False,
        label=label,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )


class MessageFilterForm(forms.Form):
    # A name (readers: matched against the chat's senders) or Telegram's numeric user id.
    sender = forms.CharField(
        required=False,
        max_length=200,
        label="Sender",
        widget=forms.TextInput(
            attrs={"placeholder": "name or user id", "list": "sender-names", "autocomplete": "off"}
        ),
    )
    since = _moment("Since")
    until = _moment("Until")
    kind = forms.ChoiceField(required=False, choices=[("", "any kind")] + [(k, k) for k in KINDS])
    thread = forms.IntegerField(required=False, label="Topic")
    q = forms.CharField(required=False, max_length=200, label="Search text")
    date = forms.DateField(
        required=False, label="Jump to", widget=forms.DateInput(attrs={"type": "date"})
    )

    def topics(self, choices: list[tuple[int, str]]) -> None:
        """The chat's forum topics as the topic filter's choices."""
        self.fields["thread"].widget = forms.Select(
            choices=[("", "every topic"), *[(str(t), n) for t, n in choices]]
        )

    def query(self, chat_id: int, sender: int | None) -> MessageQuery:
        data = self.cleaned_data
        return MessageQuery(
            chats=(chat_id,),
            user=sender,
            thread=data.get("thread"),
            since=int(data["since"].timestamp()) if data.get("since") else None,
            until=int(data["until"].timestamp()) if data.get("until") else None,
            kind=data.get("kind") or None,
            descending=True,
            limit=PAGE_SIZE,
        )
