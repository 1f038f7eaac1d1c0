"""Frame sampling and preprocessing against straightforward references (PyAV decode + torch)."""
from __future__ import annotations

import av
import numpy as np
import pytest
import torch
import torch.nn.functional as F
import torchvision.transforms.functional as TF

from catsplit.runtime.bundle import Preprocess
from catsplit.runtime.video import VideoError, load_views, read_frames, sample_indices
from tests import videos as V

PRE = Preprocess(num_frames=8, crop=32, resize=36)


@pytest.fixture(scope="module")
def vids(tmp_path_factory):
    d = tmp_path_factory.mktemp("videos")
    return {"normal": V.normal_video(d / "normal.mp4", n=32), "odd": V.odd_video(d / "odd.mp4", n=20),
            "gray": V.gray_video(d / "gray.mp4", n=20), "short": V.short_video(d / "short.mp4", n=3),
            "truncated": V.truncated_video(d / "truncated.mp4"),
            "truncated_noindex": V.truncated_video(d / "truncated2.mp4", faststart=False),
            "empty": V.empty_file(d / "empty.mp4"), "text": V.non_video(d / "text.mp4"),
            "missing": d / "missing.mp4", "dir": d}


def test_uniform_indices_are_segment_centres():
    # TSN's test protocol: tick = n / T, index = int(tick / 2 + tick * i)
    for n in (8, 10, 31, 32, 100, 301):
        tick = n / 8
        assert sample_indices(n, PRE).tolist() == [[int(tick / 2 + tick * i) for i in range(8)]]


def test_uniform_clips_spread_within_segments():
    idx = sample_indices(32, PRE, clips=2)  # segments of 4 frames: offsets 1 and 3
    assert idx.tolist() == [[4 * i + 1 for i in range(8)], [4 * i + 3 for i in range(8)]]
    assert (np.diff(sample_indices(8, PRE, clips=3), axis=1) == 1).all()  # 1-frame segments


def test_stride_indices():
    pre = Preprocess(num_frames=4, crop=32, resize=36, sampling="stride", stride=3)  # span 10
    assert sample_indices(32, pre).tolist() == [[11, 14, 17, 20]]  # centred
    assert sample_indices(32, pre, clips=3)[:, 0].tolist() == [3, 11, 18]  # starts evenly spaced
    assert sample_indices(10, pre).tolist() == [[0, 3, 6, 9]]
    with pytest.raises(ValueError, match="needs at least 10"):
        sample_indices(9, pre)


def test_uniform_too_short():
    assert sample_indices(8, PRE).tolist() == [list(range(8))]
    with pytest.raises(ValueError, match="has 7 decodable frames"):
        sample_indices(7, PRE)


def test_decoded_frames_are_the_sampled_ones(vids):
    # frame i of the test video has mean brightness ~ 8 i + 4
    frames = read_frames(vids["normal"], PRE, clips=2)
    seen = np.rint((frames.reshape(2, 8, -1).mean(-1) - 4) / 8).astype(int)
    assert seen.tolist() == sample_indices(32, PRE, clips=2).tolist()


def _reference(path, pre: Preprocess, crops: int) -> np.ndarray:
    """PyAV decode all, TSN indices, torch bilinear resize, torchvision crop, normalise, permute."""
    with av.open(str(path)) as c:
        allf = [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]
    tick = len(allf) / pre.num_frames
    x = torch.from_numpy(np.stack([allf[int(tick / 2 + tick * i)] for i in range(pre.num_frames)]))
    x = x.permute(0, 3, 1, 2).float() / 255  # T C H W
    h, w = x.shape[-2:]
    size = (pre.resize, int(pre.resize * w / h)) if h <= w else (int(pre.resize * h / w), pre.resize)
    x = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    if crops == 1:
        crops_ = [TF.center_crop(x, [pre.crop, pre.crop])]
    else:  # wide frames: left, centre, right
        top = int(round((size[0] - pre.crop) / 2))
        crops_ = [x[..., top:top + pre.crop, :pre.crop], TF.center_crop(x, [pre.crop, pre.crop]),
                  x[..., top:top + pre.crop, -pre.crop:]]
    out = [TF.normalize(c, pre.mean, pre.std) for c in crops_]  # T C S S
    out = [c.permute(1, 0, 2, 3) if pre.layout == "NCTHW" else c for c in out]
    return torch.stack(out).numpy()


@pytest.mark.parametrize("layout", ["NCTHW", "NTCHW"])
@pytest.mark.parametrize("crops", [1, 3])
@pytest.mark.parametrize("video", ["normal", "odd"])
def test_preprocessing_matches_torch_reference(vids, layout, crops, video):
    pre = Preprocess(num_frames=8, crop=32, resize=36, layout=layout)
    got = load_views(vids[video], pre, crops=crops)
    want = _reference(vids[video], pre, crops)
    assert got.dtype == np.float32 and got.shape == want.shape == (crops, *pre.input_shape(1)[1:])
    np.testing.assert_allclose(got, want, atol=2e-5, rtol=0)


def test_views_order_and_layouts(vids):
    both = load_views(vids["normal"], PRE, clips=2, crops=3)
    assert both.shape == (6, 3, 8, 32, 32)
    # view c * crops + k = clip c, crop k; the centre crop is the single-crop view
    np.testing.assert_array_equal(both[[1, 4]], load_views(vids["normal"], PRE, clips=2, crops=1))
    assert not np.allclose(both[0], both[2])  # left and right crops differ
    ntchw = load_views(vids["normal"], Preprocess(num_frames=8, crop=32, resize=36, layout="NTCHW"), clips=2, crops=3)
    assert ntchw.shape == (6, 8, 3, 32, 32)
    np.testing.assert_array_equal(ntchw, both.transpose(0, 2, 1, 3, 4))


def test_grayscale_becomes_rgb(vids):
    v = load_views(vids["gray"], PRE)
    rgb = v[0] * np.asarray(PRE.std, np.float32)[:, None, None, None] + np.asarray(PRE.mean, np.float32)[:, None, None, None]
    np.testing.assert_allclose(rgb[0], rgb[1], atol=1e-5)
    np.testing.assert_allclose(rgb[0], rgb[2], atol=1e-5)


def test_odd_sized_video(vids):
    frames = read_frames(vids["odd"], PRE)
    assert frames.shape == (1, 8, 61, 97, 3)
    assert np.isfinite(load_views(vids["odd"], PRE, clips=2, crops=3)).all()


@pytest.mark.parametrize("name, problem", [
    ("missing", "no such file"), ("empty", "empty file"), ("short", "too short"),
    ("truncated", "truncated"), ("truncated_noindex", "cannot decode"), ("text", "cannot decode"),
    ("dir", "is a directory, not a file"),
])
def test_bad_videos_raise_one_line(vids, name, problem):
    with pytest.raises(VideoError) as e:
        load_views(vids[name], PRE)
    msg = str(e.value)
    assert msg.startswith(f"{vids[name]}: ") and problem in msg and "\n" not in msg


def test_stride_too_short_for_span(vids):
    pre = Preprocess(num_frames=8, crop=32, resize=36, sampling="stride", stride=4)  # span 29 > 20
    with pytest.raises(VideoError, match="needs at least 29"):
        load_views(vids["odd"], pre)
    assert load_views(vids["normal"], pre).shape == (1, 3, 8, 32, 32)  # 32 frames suffice
