"""What every alert channel shares, knowing no provider: ports, errors, failover, routes, SMS replies.

- ``ports``: ``AlertChannel`` and its friends (re-exported from callcenter.service.ports), and what a
  failover path implements (``ChannelHealth``, ``FailoverPath``, ``Released``);
- ``errors``: the one channel error tree that provider packages translate their exceptions into;
- ``failover``: ``FailoverChannel``, the composite that moves legs off a failing path, and its builder;
- ``routes``: which path carries which leg (config/channels.yaml);
- ``replies``: the SMS reply rules (1 / 到 / 收到 acknowledge, 2 declines) and ``SmsReplies``, which
  applies them for any SMS provider's inbound webhook;
- ``stored``: what channels read from incident storage (the send gate, the open alerts a reply answers);
- ``builder``: what a channel package's builder is given (``ChannelContext``) and gives back
  (``ChannelPackage``: its channels, lifecycle, health probes, HTTP routers), for the registry in
  callcenter.bootstrap;
- ``simulated``: the builders of the simulated and recording phones (callcenter.adapters).

Provider packages (the SIP and Twilio ones today) import this package and never each other; this
package imports none of them (tests/unit/channels/test_layering.py checks both). Only the composition
root (callcenter.bootstrap) names providers.
"""
