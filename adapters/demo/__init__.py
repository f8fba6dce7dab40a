"""Demo data: a deterministic synthetic portfolio for seeding, simulation and fairness tests."""

from adapters.demo.portfolio import DEMO_SEED, generate_applicants, user_id_for

__all__ = ["DEMO_SEED", "generate_applicants", "user_id_for"]
