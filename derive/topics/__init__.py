"""One module per catalog entry; each exposes ``TOPIC``, a :class:`derive.spec.Topic`."""
