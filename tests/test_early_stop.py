from catsplit.compiler.early_stop import EMAStopper


def test_min_mode_stops_after_patience_and_keeps_best_snapshot():
    stop = EMAStopper(beta=0.0, patience=2, min_delta=0.1, mode="min")  # beta 0: the EMA is the value
    values = [1.0, 0.5, 0.45, 0.6, 0.3]
    stopped_at = next(e for e, v in enumerate(values, 1) if stop.step(e, v, lambda e=e: f"state{e}"))
    assert stopped_at == 4  # 0.45 and 0.6 are not 0.1 better than 0.5
    assert stop.best_epoch == 2 and stop.best_state == "state2" and stop.best_value == 0.5


def test_max_mode_smooths_with_the_ema():
    stop = EMAStopper(beta=0.5, patience=5, min_delta=0.0, mode="max")
    for epoch, value in enumerate([0.0, 1.0, 1.0], 1):
        stop.step(epoch, value, lambda: None)
    assert stop.ema == 0.75 and stop.best_value == 0.75 and stop.best_epoch == 3


def test_bias_corrected_ema_is_a_weighted_mean_of_the_values_so_far():
    """Started at 0 and divided by 1 - beta^t, the EMA follows a falling value at once; the plain one
    moves (1 - beta) a step from the first value (docs/method.md §4)."""
    values = [2.0, 1.0, 1.0]
    fixed, plain = (EMAStopper(0.95, 5, 0.0, "min", bias_correct=b) for b in (True, False))
    for epoch, v in enumerate(values, 1):
        fixed.step(epoch, v, lambda: None)
        plain.step(epoch, v, lambda: None)
    weights = [0.95 ** 2, 0.95, 1.0]
    assert abs(fixed.ema - sum(w * v for w, v in zip(weights, values)) / sum(weights)) < 1e-12
    assert fixed.ema < 1.4 and plain.ema > 1.9
