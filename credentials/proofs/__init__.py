"""Proof formats. One module per format behind the :class:`~.base.Signer` protocol."""
