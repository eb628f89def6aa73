"""SIP test harness: Kamailio on free loopback ports, sipp scenarios, raw UDP probes."""
