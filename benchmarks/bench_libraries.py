"""What ltxbench writes by hand against the well-kept library that does the same job, side by side.

Three pairs, each measured on the same inputs in one run (shot detection against PySceneDetect is
in ``bench_shots.py``). The measurement led ltxbench to use the library in all three (docs/libraries.md);
the hand-written versions it replaced are kept in this file as ``former_*`` so the comparison can be
rerun, and the rows "ltxbench now" show what the product computes today.

loudness
    ltxbench's former ``loudness_lufs`` (BS.1770-4, numpy) against pyloudnorm 0.2.0's
    ``Meter.integrated_loudness``, with its default ``"K-weighting"`` filters and with its
    ``"DeMan"`` ones. Accuracy: EBU Tech 3341 test cases 1-5 (synthesised: stereo 1 kHz sines
    whose expected reading is exactly -23.0 or -33.0 LUFS, within +-0.1 LU) at 48 kHz and at the
    rates curate meets (16, 22.05, 44.1 kHz), the K-weighting coefficients at 48 kHz against the
    standard's table, and readings of real speech (LibriSpeech, tests/data/speech) where both
    should agree. Coverage: a 5.1 span, a span shorter than one 400 ms block. Time: ratio to ours.
bootstrap
    ltxbench's former ``bootstrap_ci`` (percentile bootstrap of the mean) against
    ``scipy.stats.bootstrap`` with ``method="percentile"`` and with its default ``"BCa"``, and the
    Student-t interval as a reference. Coverage of the true mean by the 95 % interval over many
    simulated samples of the sizes evaluate sees (4-32 videos per checkpoint), from three
    populations shaped like identity similarities; mean interval width; time per call as a ratio
    to ours. Degenerate inputs (one value; all values equal) too.
near-duplicate hash
    ltxbench's former ``dct_hash`` (63-bit DCT hash of a clip's mean frame, DC left out) against ``imagehash.phash`` (64-bit DCT hash, DC in) and, for scale,
    ``imagehash.average_hash`` / ``dhash``. Pairs from the real footage in tests/data: positives
    are what curate must call duplicates (the same clip re-encoded as JPEG q=30, halved and
    scaled back, cropped 5 %, brightened 10 %, and two overlapping windows of one shot), negatives
    what it must not (clips of different shots; different photos, two of them of the same man).
    Distances per kind, the separation margin, true and false positives at each hash's best
    threshold and at ``curate.duplicate_distance`` (6), time per hash as a ratio to ours.

Run: ``.venv/bin/python benchmarks/bench_libraries.py`` (about two minutes on 2 cores).
"""

from __future__ import annotations

import io
import math
import time
import warnings
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parent.parent / "tests" / "data"


def _per_call(fn, repeat: int) -> float:
    """Median seconds of ``fn()`` over ``repeat`` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


# ---------------------------------------------------------------------------------------
# Loudness
# ---------------------------------------------------------------------------------------

# ltxbench's former BS.1770-4 implementation (numpy, K-weighting applied in the frequency
# domain), kept here so the comparison that replaced it by pyloudnorm can be rerun.
def former_k_weighting(sample_rate: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """The two K-weighting biquads ``(b, a)`` at ``sample_rate``: the head's high shelf, then the
    RLB high-pass. Derived from their analogue prototypes by the bilinear transform, so any rate
    works; at 48 kHz they equal the coefficients tabulated in BS.1770."""
    k = math.tan(math.pi * 1681.974450955533 / sample_rate)
    q = 0.7071752369554196
    vh = 10 ** (3.999843853973347 / 20)
    vb = vh ** 0.4996667741545416
    a0 = 1 + k / q + k * k
    shelf = (np.array([(vh + vb * k / q + k * k) / a0, 2 * (k * k - vh) / a0, (vh - vb * k / q + k * k) / a0]),
             np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    k = math.tan(math.pi * 38.13547087602444 / sample_rate)
    q = 0.5003270373238773
    a0 = 1 + k / q + k * k
    highpass = (np.array([1.0, -2.0, 1.0]), np.array([1.0, 2 * (k * k - 1) / a0, (1 - k / q + k * k) / a0]))
    return [shelf, highpass]


def _former_k_weighted(samples: np.ndarray, sample_rate: int) -> np.ndarray:
    """``samples`` ``[C,T]`` through the K-weighting filters, float64.

    Applied as one multiplication by the filters' complex response in the frequency domain
    (a pure-numpy IIR loop would be slow); the zero padding of one second holds the high-pass
    tail (it decays in ~50 ms), so this equals causal time-domain filtering to float precision.
    """
    t = samples.shape[1]
    n = 1 << int(math.ceil(math.log2(t + sample_rate)))
    z = np.exp(-1j * np.pi * np.arange(n // 2 + 1) / (n // 2))  # z^-1 on the unit circle
    response = np.ones_like(z)
    for b, a in former_k_weighting(sample_rate):
        response *= (b[0] + b[1] * z + b[2] * z * z) / (a[0] + a[1] * z + a[2] * z * z)
    spectrum = np.fft.rfft(samples.astype(np.float64), n=n, axis=1)
    return np.fft.irfft(spectrum * response, n=n, axis=1)[:, :t]


def _former_channel_weights(channels: int) -> np.ndarray:
    """BS.1770 channel weights: 1.0 for front channels; for 5.1 (L R C LFE Ls Rs) the LFE is
    left out and the surrounds count 1.41."""
    if channels == 6:
        return np.array([1.0, 1.0, 1.0, 0.0, 1.41, 1.41])
    return np.ones(channels)


def former_loudness_lufs(samples: np.ndarray, sample_rate: int) -> float | None:
    """Integrated loudness of ``samples`` ``[C,T]`` in LUFS; ``None`` when everything is gated out
    (silence) or the span is empty. Spans shorter than one 400 ms block are measured as one block."""
    if samples.ndim != 2 or samples.shape[1] == 0:
        return None
    weighted = _former_k_weighted(samples, sample_rate)
    block, hop = int(round(0.4 * sample_rate)), int(round(0.1 * sample_rate))
    t = weighted.shape[1]
    starts = range(0, t - block + 1, hop) if t >= block else range(0, 1)
    power = weighted ** 2
    # Mean square per block and channel through a running sum: one pass, no block copies.
    csum = np.concatenate([np.zeros((power.shape[0], 1)), np.cumsum(power, axis=1)], axis=1)
    ends = np.array([min(s + block, t) for s in starts])
    begins = np.array(list(starts))
    z = (csum[:, ends] - csum[:, begins]) / (ends - begins)  # [C, blocks]
    block_power = _former_channel_weights(samples.shape[0]) @ z
    with np.errstate(divide="ignore"):
        block_lufs = -0.691 + 10 * np.log10(block_power)
    above_abs = block_lufs > -70.0
    if not above_abs.any():
        return None
    relative_gate = -0.691 + 10 * np.log10(block_power[above_abs].mean()) - 10.0
    kept = above_abs & (block_lufs > relative_gate)
    return float(-0.691 + 10 * np.log10(block_power[kept].mean()))


def _sine(dbfs: float, seconds: float, rate: int) -> np.ndarray:
    t = np.arange(int(round(seconds * rate))) / rate
    return 10 ** (dbfs / 20) * np.sin(2 * np.pi * 1000 * t)


def ebu_3341_cases(rate: int) -> dict[str, tuple[np.ndarray, float]]:
    """EBU Tech 3341 (v4) test cases 1-5 as stereo ``[2,T]`` signals, with the expected reading."""
    def seq(*parts: tuple[float, float]) -> np.ndarray:
        mono = np.concatenate([_sine(dbfs, s, rate) for dbfs, s in parts])
        return np.stack([mono, mono])
    return {
        "1: -23 dBFS 20 s": (seq((-23, 20)), -23.0),
        "2: -33 dBFS 20 s": (seq((-33, 20)), -33.0),
        "3: -36/-23/-36 (rel. gate)": (seq((-36, 10), (-23, 60), (-36, 10)), -23.0),
        "4: -72/-36/-23/-36/-72": (seq((-72, 10), (-36, 10), (-23, 60), (-36, 10), (-72, 10)), -23.0),
        "5: -26/-20/-26": (seq((-26, 20), (-20, 20.1), (-26, 20)), -23.0),
    }


def _pyloudnorm(samples: np.ndarray, rate: int, filter_class: str) -> float | str:
    import pyloudnorm

    try:
        return float(pyloudnorm.Meter(rate, filter_class=filter_class).integrated_loudness(samples.T))
    except Exception as exc:  # the cases it does not cover are part of the measurement
        return f"{type(exc).__name__}"


def bench_loudness() -> None:
    import pyloudnorm

    from ltxbench.media import audio_analysis
    from ltxbench.media.audio import read_audio

    print("\n== loudness: ltxbench BS.1770-4 vs pyloudnorm", pyloudnorm.__version__ if hasattr(pyloudnorm, "__version__") else "")
    methods = {
        "ltxbench (former)": lambda x, r: former_loudness_lufs(x, r),
        "pyloudnorm K-weighting": lambda x, r: _pyloudnorm(x, r, "K-weighting"),
        "pyloudnorm DeMan": lambda x, r: _pyloudnorm(x, r, "DeMan"),
        "ltxbench now (pyloudnorm)": lambda x, r: audio_analysis.loudness_lufs(x, r),
    }
    # Coefficients at 48 kHz against ITU-R BS.1770-4 tables 1 and 2.
    table = [np.array([1.53512485958697, -2.69169618940638, 1.19839281085285]),
             np.array([1.0, -1.69065929318241, 0.73248077421585]),
             np.array([1.0, -2.0, 1.0]), np.array([1.0, -1.99004745483398, 0.99007225036621])]
    ours = [c for biquad in former_k_weighting(48_000) for c in biquad]
    print("  K-weighting coefficients at 48 kHz, max |deviation| from the BS.1770 table:")
    print(f"    ltxbench (former)        {max(np.abs(a - b).max() for a, b in zip(ours, table)):.1e}")
    for fc in ("K-weighting", "DeMan"):
        meter = pyloudnorm.Meter(48_000, filter_class=fc)
        theirs = [c for f in meter._filters.values() for c in (f.b, f.a)]
        print(f"    pyloudnorm {fc:<13} {max(np.abs(np.asarray(a) - b).max() for a, b in zip(theirs, table)):.1e}")

    header = "  " + f"{'case':<30}" + "".join(f"{m:>27}" for m in methods)
    worst = {m: 0.0 for m in methods}
    for rate in (48_000, 44_100, 22_050, 16_000):
        print(f"  EBU Tech 3341 at {rate} Hz: reading - expected (LU; the standard allows +-0.1)")
        print(header)
        for name, (signal, expected) in ebu_3341_cases(rate).items():
            row = []
            for m, fn in methods.items():
                got = fn(signal, rate)
                if isinstance(got, float):
                    worst[m] = max(worst[m], abs(got - expected))
                    row.append(f"{got - expected:+27.3f}")
                else:
                    row.append(f"{got:>27}")
            print(f"  {name:<30}" + "".join(row))
    print("  worst |error| over all cases and rates: " + ", ".join(f"{m} {w:.3f} LU" for m, w in worst.items()))

    print("  Real speech (LibriSpeech, 16 kHz mono, and resampled to 48 kHz stereo): readings in LUFS")
    print(header.replace("case", "file"))
    speech = sorted((DATA / "speech").glob("*.flac"))[:6]
    diffs = {m: [] for m in methods}
    for path in speech:
        for rate in (None, 48_000):
            samples, r = read_audio(path, sample_rate=rate)
            x = samples.astype(np.float64)
            if rate:
                x = np.concatenate([x, x])
            vals = {m: fn(x, r) for m, fn in methods.items()}
            for m, v in vals.items():
                if isinstance(v, float):
                    diffs[m].append(v - vals["ltxbench (former)"])
            label = f"{path.stem} @{r // 1000} kHz"
            print(f"  {label:<30}" + "".join(f"{v:27.3f}" if isinstance(v, float) else f"{v:>27}" for v in vals.values()))
    print("  max |difference to the former ltxbench| on speech: "
          + ", ".join(f"{m} {np.abs(d).max():.3f} LU" for m, d in diffs.items() if m != "ltxbench (former)"))

    rate = 48_000
    surround = np.stack([_sine(-23, 10, rate)] * 6)  # L R C LFE Ls Rs
    short = np.stack([_sine(-23, 0.3, rate)] * 2)
    print("  Coverage: 5.1 span (6 channels) and a 0.3 s span (shorter than one 400 ms block)")
    for m, fn in methods.items():
        a, b = fn(surround, rate), fn(short, rate)
        fmt = lambda v: f"{v:.2f} LUFS" if isinstance(v, float) else f"fails ({v})"  # noqa: E731
        print(f"    {m:<27} 5.1: {fmt(a):<24} 0.3 s: {fmt(b)}")

    print("  Time per call (median of 5), ratio to the former ltxbench (the baseline, measured in this run)")
    for label, (x, r) in {"10 s stereo 48 kHz": (np.stack([_sine(-23, 10, 48_000)] * 2), 48_000),
                          "60 s stereo 48 kHz": (np.stack([_sine(-23, 60, 48_000)] * 2), 48_000),
                          "5 s mono 16 kHz (a curate clip)": (_sine(-23, 5, 16_000)[None], 16_000)}.items():
        base = _per_call(lambda: methods["ltxbench (former)"](x, r), 5)
        row = [f"ltxbench (former) {base * 1e3:.1f} ms = 1.00x"]
        for m in list(methods)[1:]:
            row.append(f"{m} {_per_call(lambda m=m: methods[m](x, r), 5) / base:.2f}x")
        print(f"    {label:<32} " + ", ".join(row))


# ---------------------------------------------------------------------------------------
# Bootstrap interval
# ---------------------------------------------------------------------------------------

POPULATIONS = {
    # Identity similarity per generated video: most renders near one level, some far below it.
    "beta(12,8)  symmetric-ish": lambda rng, size: rng.beta(12, 8, size),
    "mixture 80% good / 20% someone else": lambda rng, size: np.where(
        rng.random(size) < 0.8, rng.beta(30, 15, size), rng.beta(4, 12, size)),
    "beta(2,8)   skewed low": lambda rng, size: rng.beta(2, 8, size),
}
TRUE_MEANS = {
    "beta(12,8)  symmetric-ish": 12 / 20,
    "mixture 80% good / 20% someone else": 0.8 * 30 / 45 + 0.2 * 4 / 16,
    "beta(2,8)   skewed low": 2 / 10,
}


def former_bootstrap_ci(values: np.ndarray, n_boot: int = 2000, confidence: float = 0.95,
                        seed: int = 0) -> tuple[float, float]:
    """ltxbench's former percentile bootstrap of the mean (kept to rerun the comparison)."""
    arr = np.asarray(values, dtype=np.float64).ravel()
    mean = float(arr.mean())
    if arr.size == 1:
        return mean, mean
    means = arr[np.random.default_rng(seed).integers(0, arr.size, size=(n_boot, arr.size))].mean(axis=1)
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [alpha, 1.0 - alpha])
    return float(min(low, mean)), float(max(high, mean))


def _scipy_interval(values: np.ndarray, method: str, seed: int) -> tuple[float, float]:
    from scipy import stats

    res = stats.bootstrap((values,), np.mean, n_resamples=2000, confidence_level=0.95, method=method,
                          rng=np.random.default_rng(seed), vectorized=True)
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def _t_interval(values: np.ndarray) -> tuple[float, float]:
    from scipy import stats

    half = stats.t.ppf(0.975, values.size - 1) * values.std(ddof=1) / np.sqrt(values.size)
    return float(values.mean() - half), float(values.mean() + half)


def bench_bootstrap(trials: int = 600) -> None:
    import scipy

    from ltxbench.evaluate.metrics.stats import bootstrap_ci

    print(f"\n== bootstrap: ltxbench percentile vs scipy {scipy.__version__} stats.bootstrap "
          f"(95 %, 2000 resamples, {trials} simulated samples per cell)")
    methods = {
        "ltxbench percentile (former)": lambda v, s: former_bootstrap_ci(v, seed=s),
        "scipy percentile": lambda v, s: _scipy_interval(v, "percentile", s),
        "scipy BCa": lambda v, s: _scipy_interval(v, "BCa", s),
        "Student t": lambda v, s: _t_interval(v),
        "ltxbench now": lambda v, s: bootstrap_ci(v, seed=s)[1:],
    }
    print("  coverage of the true mean (nominal 0.95; +-0.02 is simulation noise) | mean width")
    print("  " + f"{'population':<38}{'n':>4}" + "".join(f"{m:>31}" for m in methods))
    rng = np.random.default_rng(2026)
    for pop, draw in POPULATIONS.items():
        for n in (4, 8, 16, 32):
            cover = {m: 0 for m in methods}
            width = {m: 0.0 for m in methods}
            for trial in range(trials):
                v = draw(rng, n)
                for m, fn in methods.items():
                    with warnings.catch_warnings():
                        warnings.simplefilter("ignore")
                        lo, hi = fn(v, trial)
                    cover[m] += lo <= TRUE_MEANS[pop] <= hi
                    width[m] += hi - lo
            print(f"  {pop:<38}{n:>4}" + "".join(f"{cover[m] / trials:>23.3f} | {width[m] / trials:.3f}" for m in methods))

    v = POPULATIONS["mixture 80% good / 20% someone else"](np.random.default_rng(1), 8)
    ours = methods["ltxbench percentile (former)"](v, 0)
    theirs = methods["scipy percentile"](v, 0)
    print(f"  same 8 values, ltxbench vs scipy percentile: ({ours[0]:.4f}, {ours[1]:.4f}) vs "
          f"({theirs[0]:.4f}, {theirs[1]:.4f}) (different random streams)")
    print("  degenerate inputs:")
    for label, values in {"one value [0.7]": np.array([0.7]), "all equal [0.5]*8": np.full(8, 0.5)}.items():
        row = []
        for m, fn in [(m, methods[m]) for m in methods if m != "Student t"]:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                try:
                    got = fn(values, 0)
                    text = f"({got[0]:.2f}, {got[1]:.2f})"
                except Exception as exc:
                    text = f"fails ({type(exc).__name__})"
            if caught:
                text += f" + {type(caught[0].message).__name__}"
            row.append(f"{m}: {text}")
        print(f"    {label:<20} " + "; ".join(row))
    v16 = POPULATIONS["beta(12,8)  symmetric-ish"](np.random.default_rng(3), 16)
    base = _per_call(lambda: methods["ltxbench percentile (former)"](v16, 0), 20)
    print(f"  time per call, 16 values: ltxbench (former) {base * 1e3:.2f} ms = 1.00x, "
          + ", ".join(f"{m} {_per_call(lambda m=m: methods[m](v16, 0), 20) / base:.2f}x"
                      for m in ("scipy percentile", "scipy BCa", "ltxbench now")))


# ---------------------------------------------------------------------------------------
# Near-duplicate hash
# ---------------------------------------------------------------------------------------

SHOTS = {  # true shots (start, end) of the test clips, from docs/shots.md
    "tears_of_steel_10s.mp4": [(0, 21), (21, 65), (65, 185), (185, 240)],
    "sintel_10s.mp4": [(0, 58), (58, 76), (76, 96), (96, 118), (118, 140), (140, 176), (176, 209), (209, 240)],
}
PHOTOS = ["obama_1.jpg", "obama_2.jpg", "obama_3.jpg", "biden_1.jpg"]


def _clip_mean(path: Path, start: int, length: int) -> np.ndarray:
    """The mean of 8 frames sampled over ``[start, start+length)``, as curate hashes a clip."""
    from ltxbench.media import video

    idx = np.linspace(start, start + length - 1, 8).round().astype(int)
    return video.read_frames(path, idx).astype(np.float32).mean(axis=0)


def _variants(img: np.ndarray) -> dict[str, np.ndarray]:
    """What curate must still call the same clip: re-encoded, rescaled, cropped, brightened."""
    import cv2
    from PIL import Image

    u8 = np.clip(img, 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(u8).save(buf, format="JPEG", quality=30)
    jpeg = np.asarray(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))
    h, w = u8.shape[:2]
    half = cv2.resize(cv2.resize(u8, (w // 2, h // 2), interpolation=cv2.INTER_AREA), (w, h))
    dy, dx = h // 40, w // 40
    crop = cv2.resize(u8[dy:h - dy, dx:w - dx], (w, h))
    bright = np.clip(u8.astype(np.float32) * 1.1, 0, 255).astype(np.uint8)
    return {"jpeg q30": jpeg, "half size": half, "crop 5%": crop, "brighter 10%": bright}


def former_dct_hash(frames: np.ndarray) -> str:
    """ltxbench's former hash: 63 bits, the DCT's DC term left out (kept to rerun the comparison)."""
    import cv2

    arr = np.asarray(frames, dtype=np.float32)
    mean = arr.mean(axis=0) if arr.ndim == 4 else arr
    small = cv2.resize(cv2.cvtColor(mean, cv2.COLOR_RGB2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
    ac = cv2.dct(small)[:8, :8].ravel()[1:]
    return f"{int(''.join('1' if b else '0' for b in ac > np.median(ac)), 2):016x}"


def _hashers() -> dict[str, tuple[callable, int]]:
    import imagehash
    from PIL import Image

    from ltxbench.curate.scores import duplicates

    def pil(img: np.ndarray):
        return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))

    def as_int(h) -> int:
        return int(str(h), 16)

    return {
        "ltxbench (former)": (lambda img: int(former_dct_hash(img), 16), 63),
        "imagehash.phash": (lambda img: as_int(imagehash.phash(pil(img))), 64),
        "imagehash.average_hash": (lambda img: as_int(imagehash.average_hash(pil(img))), 64),
        "imagehash.dhash": (lambda img: as_int(imagehash.dhash(pil(img))), 64),
        "ltxbench now": (lambda img: int(duplicates.dct_hash(img), 16), 64),
    }


def bench_duplicates() -> None:
    import imagehash

    from ltxbench.media import video

    print(f"\n== near-duplicate hash: ltxbench (former DCT hash) vs imagehash {imagehash.__version__}")
    clips: list[tuple[str, np.ndarray]] = []
    positives: list[tuple[str, np.ndarray, np.ndarray]] = []
    for name, shots in SHOTS.items():
        for start, end in shots:
            length = min(25, end - start)
            first = _clip_mean(DATA / name, start, length)
            clips.append((f"{name[:5]}@{start}", first))
            for kind, img in _variants(first).items():
                positives.append((kind, first, img))
            if end - start >= length + 8:  # a second, overlapping window of the same shot
                positives.append(("overlapping window", first, _clip_mean(DATA / name, start + 8, length)))
    photos = [(p, video.read_image(DATA / p).astype(np.float32)) for p in PHOTOS]
    for p, img in photos:
        for kind, v in _variants(img).items():
            positives.append((kind, img, v))
    negatives = [("other shot", a, b) for i, (_, a) in enumerate(clips) for _, b in clips[i + 1:]]
    negatives += [("other photo", a, b) for i, (_, a) in enumerate(photos) for _, b in photos[i + 1:]]
    print(f"  {len(positives)} duplicate pairs (should match), {len(negatives)} different pairs (should not)")
    kinds = sorted({k for k, _, _ in positives}) + ["other shot", "other photo"]
    print("  max distance per duplicate kind / min distance per different kind (bits):")
    print("  " + f"{'hash':<24}" + "".join(f"{k:>20}" for k in kinds) + f"{'margin':>8}{'best t':>8}{'TP/FP@best':>12}{'TP/FP@6':>10}")
    hashers = _hashers()
    for label, (fn, _bits) in hashers.items():
        pos = [(k, bin(fn(a) ^ fn(b)).count("1")) for k, a, b in positives]
        neg = [(k, bin(fn(a) ^ fn(b)).count("1")) for k, a, b in negatives]
        cells = []
        for k in kinds:
            ds = [d for kk, d in pos if kk == k] or None
            dn = [d for kk, d in neg if kk == k] or None
            cells.append(f"{'max ' + str(max(ds)) if ds else 'min ' + str(min(dn)):>20}")
        pd, nd = np.array([d for _, d in pos]), np.array([d for _, d in neg])
        margin = int(nd.min() - pd.max())
        # The threshold that catches the most duplicates while flagging the fewest different pairs.
        best = max(range(0, 33), key=lambda t: ((pd <= t).sum() - (nd <= t).sum(), -t))
        tp_fp = lambda t: f"{(pd <= t).sum()}/{(nd <= t).sum()}"  # noqa: E731
        print(f"  {label:<24}" + "".join(cells) + f"{margin:>8}{best:>8}{tp_fp(best):>12}{tp_fp(6):>10}")
    img = clips[0][1]
    base = _per_call(lambda: hashers["ltxbench (former)"][0](img), 50)
    print(f"  time per hash of one {img.shape[1]}x{img.shape[0]} mean frame: ltxbench (former) {base * 1e3:.2f} ms = 1.00x, "
          + ", ".join(f"{m} {_per_call(lambda m=m: hashers[m][0](img), 50) / base:.2f}x" for m in list(hashers)[1:]))


def main() -> None:
    bench_loudness()
    bench_bootstrap()
    bench_duplicates()


if __name__ == "__main__":
    main()
