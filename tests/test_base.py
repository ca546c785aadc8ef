import pickle

import numpy as np
import pyarrow as pa
import pytest

from tamis._base import Estimator, Selection, check_is_fitted, load_state, save_state
from tamis.exceptions import InputError, NotFittedError


class Toy(Estimator):
    def __init__(self, n: int = 3, *, name: str = "x", seed: int = 0) -> None:
        if n < 1:
            raise ValueError("n must be >= 1")
        self.n = n
        self.name = name
        self.seed = seed


def test_params_repr_set_params():
    t = Toy(5, seed=2)
    assert t.get_params() == {"n": 5, "name": "x", "seed": 2}
    assert repr(t) == "Toy(n=5, seed=2)"
    assert t.set_params(name="y").name == "y"
    with pytest.raises(ValueError, match="n must be"):
        t.set_params(n=0)
    with pytest.raises(ValueError, match="no parameter 'nope'"):
        t.set_params(nope=1)


def test_check_is_fitted():
    t = Toy()
    with pytest.raises(NotFittedError, match="Toy is not fitted yet"):
        check_is_fitted(t, "model_")
    t.model_ = 1
    check_is_fitted(t, "model_")


def test_state_round_trip_without_pickle(tmp_path):
    path = save_state(tmp_path / "m.npz", "toy", 2, {"n": 3}, a=np.arange(4), b=np.ones(2))
    params, z = load_state(path, "toy", (1, 2))
    assert params == {"n": 3}
    np.testing.assert_array_equal(z["a"], np.arange(4))
    with np.load(path, allow_pickle=False) as raw:
        assert set(raw.files) == {"header", "a", "b"}
    with pytest.raises(InputError, match="expected 'other'"):
        load_state(path, "other", (2,))
    with pytest.raises(InputError, match="version 2"):
        load_state(path, "toy", (1,))
    with pytest.raises(TypeError, match="object"):
        save_state(tmp_path / "o.npz", "toy", 1, {}, a=np.array([object()]))


def test_selection_columns_mask_arrow_pickle():
    s = Selection(
        np.array([3, 1]), ids=["d3", "d1"], columns={"score": np.array([0.5, 0.2])}, n_rows=5
    )
    assert len(s) == 2
    assert s.score.tolist() == [0.5, 0.2]
    assert s.mask().tolist() == [False, True, False, True, False]
    t = s.to_arrow()
    assert t.column_names == ["index", "id", "score"]
    assert t["id"].to_pylist() == ["d3", "d1"]
    assert pickle.loads(pickle.dumps(s)).score.tolist() == [0.5, 0.2]
    with pytest.raises(AttributeError, match="nope"):
        _ = s.nope
    with pytest.raises(ValueError, match="column 'x' has 1 values for 2 rows"):
        Selection(np.array([0, 1]), columns={"x": np.zeros(1)})
    assert Selection(np.array([2]), ids=pa.array(["a"])).to_arrow()["id"].to_pylist() == ["a"]
