"""The synthetic generator through every writer and reader: what was drawn is what reads back."""

from __future__ import annotations

import numpy as np
import pytest
from _data_helpers import expected_label

from edgedg.data import open_dataset
from edgedg.data.formats import FORMATS

synth = pytest.importorskip("edgedg.data.synth")
generate = pytest.importorskip("edgedg.data.synth.generate")
render = pytest.importorskip("edgedg.data.synth.render")

SIZE = (32, 64)
SEED = 11


@pytest.mark.parametrize("fmt", FORMATS)
def test_synthesized_labels_read_back_exactly(fmt, tmp_path):
    domain = next(iter(synth.DOMAINS))
    synth.synthesize(tmp_path, [domain], 2, SIZE, fmt, seed=SEED, val_fraction=0.5, progress=False)
    for split, scene in (("train", 0), ("val", 1)):
        ds = open_dataset(f"{fmt}:{tmp_path / domain}", split)
        assert len(ds) == 1 and ds.domain == domain
        image, label = render.render_scene(generate.layout_seed(SEED, scene), SIZE, domain)
        item = ds[0]
        assert np.array_equal(item["label"], expected_label(fmt, label)), (fmt, split)
        if fmt == "mapillary":
            mse = np.mean((item["image"].astype(float) - image.astype(float)) ** 2)
            assert 10 * np.log10(255**2 / max(mse, 1e-9)) > 30.0  # JPEG q95 4:4:4, in dB
        else:
            assert np.array_equal(item["image"], image)
