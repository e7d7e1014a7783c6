"""The reference order and payout service: the system under test, done right, and its seeded bugs.

It speaks the SUT contract of DESIGN.md section 4. ``python -m order_service --variant NAME``;
configured only by the environment the stage gives it (see ``config``).
"""
