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
