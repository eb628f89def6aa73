"""SMS over SMPP 3.4 to a carrier's SMSC (docs/sms.md, "SMPP").

- ``segments``: a text as UCS-2 short messages, concatenated with a UDH beyond 70 characters (pure);
- ``receipts``: delivery receipts read (TLVs or text) and their stat/err as a DeliveryFailure (pure);
- ``errors``: command_status translated into the channel error tree;
- ``ledger``: which leg a message id belongs to, and when its receipts settle it (pure);
- ``session``: the transceiver bind kept up with back-off and enquire_link, windowed submits (smpplib);
- ``channel``: ``SmppSmsChannel``, the FailoverPath; ``builder``: the package's ChannelPackage.
"""
