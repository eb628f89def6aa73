"""Interactive voice response: flows as data, a pure flow engine, and the media port that carries them.

Entry points: ``handlers.inbound_handler`` and ``handlers.alert_handler`` (what a call channel runs),
``flowfile.load_flows`` (the flow files), ``engine.FlowEngine`` (events in, commands out),
``prompts.PromptLibrary`` (prompt audio), ``media.CallMedia`` (the port a channel implements) and
``media_contract.check_call_media`` (the check it must pass). See docs/ivr.md.
"""
