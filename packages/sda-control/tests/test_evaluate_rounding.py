"""A rank order one step from perfect meets the rho >= 0.9 target exactly."""

from sda_control.evaluate import TARGETS, spearman


def test_one_swap_in_five_positions_is_exactly_the_target() -> None:
    rho = spearman([-1.0, -0.5, 0.0, 0.5, 1.0], [1.0, 2.0, 4.0, 3.0, 5.0])
    assert rho == 0.9 and rho >= TARGETS["rho"]
