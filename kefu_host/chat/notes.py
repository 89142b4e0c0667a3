"""Private notes: what agents write in a conversation for each other, which the visitor never receives.

A note is a message with kind ``note``. It is stored through the same batch writer as any message and takes the
conversation's next ``seq``, so agents see one ordered, gap-free stream of messages and notes, and a note written
between two messages stays between them for everyone who reads the transcript later.

Keeping notes from visitors rests on one rule, applied where frames meet sockets:

* every frame of a stored note, live or replayed, is marked agents-only (:attr:`Frame.private
  <kefu_host.chat.protocol.Frame.private>`);
* a :class:`~kefu_host.chat.connection.Connection` that does not see private frames (every visitor socket) drops
  such a frame but still moves its resume mark past the note's seq. So the next visible message is not taken for
  a gap, and a replay that read up to a note (a conversation ending in one) ends at the note's seq instead of
  reading it again at every message;
* HTTP history read with a visitor token leaves notes out in the query itself.

A visitor's seqs therefore rise and every message meant for them arrives once and in order, but the seqs that notes
took are skipped. Notes do not go to plugins (``kefu_message_received``) or webhooks (``message.created``): both
may forward what they get to the customer, and neither knew about notes before they existed.
"""

from __future__ import annotations

from kefu_host.chat.values import NOTE


def agents_only(kind: str) -> bool:
    """Whether a message of this kind is for agents only (a visitor never receives it, in any form)."""
    return kind == NOTE
