"""Why an SMS was not delivered: the vocabulary every SMS provider maps its codes to.

Defined in the domain (callcenter.domain.delivery: the engine closes legs whose report never came)
and re-exported here, beside the other ports a provider package implements.
"""

from __future__ import annotations

from callcenter.domain.delivery import DELIVERY_WINDOW_HOURS, DeliveryFailure, delivery_detail, failure_of

__all__ = ["DELIVERY_WINDOW_HOURS", "DeliveryFailure", "delivery_detail", "failure_of"]
