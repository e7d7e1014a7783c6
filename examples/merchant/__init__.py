"""An example merchant service: accounts, a cart, Stripe PaymentIntents and webhooks, over PostgreSQL.

It is what orderquake tests unchanged: it knows nothing of the harness, is configured only by
its own environment (``MERCHANT_PORT``, ``PG*``, ``STRIPE_SECRET_KEY``, ``STRIPE_WEBHOOK_SECRET``)
and talks to Stripe through the official SDK at its default address. ``target.yaml`` beside this
file tells orderquake how to drive and inspect it; ``variants.py`` lists its seeded bugs.
"""
