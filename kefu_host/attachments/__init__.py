"""Attachments: images and files visitors and agents add to a conversation.

A file is streamed to disk under a random storage key while its size is counted and its type sniffed from its first
bytes (:mod:`~kefu_host.attachments.sniff`); only then does it become a message of kind ``attachment`` whose JSON
column holds the metadata. It is served back only to the conversation's participants, never as a document of the
host's origin (:mod:`~kefu_host.attachments.http`). This package's ``__init__`` stays import-light: the config
loader reads :data:`~kefu_host.attachments.sniff.SNIFFED_TYPES`.
"""
