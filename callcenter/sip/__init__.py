"""The SIP channel: a hardened pyVoIP 1.6.8 phone, IVR media over RTP, inbound 995 calls and alert calls.

Entry points: :class:`~callcenter.sip.service.SipService` (built by the composition root when
``engine.call_channel == "sip"``), :class:`~callcenter.sip.channel.SipAlertChannel`, and the phone
itself (:class:`~callcenter.sip.phone.HardenedPhone`). docs/sip.md lists the pyVoIP defects handled.
"""
