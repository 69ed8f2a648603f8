"""The filter: for every beacon in view, a distribution over motion states, each state with a
Gaussian over the beacon's fixed offset and the current shadowing. Pure numpy, no clock.

One row per beacon; every array is rows x states, and a frame of every beacon
is one vectorised step, so 500 beacons cost about what one costs in Python.

Per frame (`step`):

1. Motion: the state distribution moves by the transition (edge/presence/
   model.py); the Gaussians that flow into a state are merged by their first
   two moments (the IMM / GPB1 approximation), then the shadowing decays
   toward zero (Ornstein-Uhlenbeck, `shadow_tau_s`) and gains its share of
   variance.
2. Evidence: the frame's mean level y over n adverts (relative to the
   advertised 1 m power) is a linear observation of offset + shadowing with
   the state's expected level: y = expected(d) + offset + shadow + e,
   var(e) = advert_noise^2 / n + model_error^2. Each state's Gaussian gets
   its Kalman update and the state its likelihood, mixed with a flat
   `outlier_share` so one wild frame cannot decide anything. A frame without
   adverts is no evidence (its observation variance is infinite in effect).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from edge.presence.model import DTYPE, LEVEL, MotionModel

Array = npt.NDArray[np.float64]
NO_EVIDENCE_DB2 = 1e12
OUTLIER_SPAN_DB = 60.0  # an outlier frame may be anywhere in this range of levels
CHUNK = 64  # rows stepped together: about 0.7 MB of moments, twice as fast as all at once
TINY = 1e-35  # below this a state's probability counts as none (float32 reaches 1e-38)
VAR_FLOOR = 1e-6
W_FLOOR = 1e-30  # keeps every state barely possible (and far from subnormal numbers)


class FilterBank:
    """Rows of filter state; rows 0..len-1 are in use (removal moves the last row in)."""

    def __init__(self, model: MotionModel, capacity: int = 16) -> None:
        self.model = model
        p = model.params
        self._n = 0
        size = model.layout.size
        self._cap = capacity
        self.w = np.zeros((capacity, size), DTYPE)  # state probabilities
        self.mb = np.zeros((capacity, size), DTYPE)  # offset mean
        self.ms = np.zeros((capacity, size), DTYPE)  # shadow mean
        self.pbb = np.zeros((capacity, size), DTYPE)  # covariance: offset, offset x shadow, shadow
        self.pbs = np.zeros((capacity, size), DTYPE)
        self.pss = np.zeros((capacity, size), DTYPE)
        self._rho = math.exp(-p.frame_s / p.shadow_tau_s)
        self._q = p.shadow_db**2 * (1 - self._rho**2)
        self._noise2 = p.advert_noise_db**2
        self._floor = (p.model_error_db**2 + model.extra_db2).astype(DTYPE)
        self._outlier = p.outlier_share / OUTLIER_SPAN_DB
        self._keep = 1 - p.outlier_share
        self._expected = model.expected_db.astype(DTYPE)
        self._summary_cols = np.concatenate([model.summary, model.expected_db[:, None]], axis=1)

    def __len__(self) -> int:
        return self._n

    def add(self) -> int:
        """A new row at the first-heard prior; returns its index."""
        if self._n == self._cap:
            self._grow()
        r = self._n
        self._n += 1
        p = self.model.params
        self.w[r] = self.model.prior
        self.mb[r] = -p.body_loss_db
        self.ms[r] = 0.0
        self.pbb[r] = p.offset_sd_db**2
        self.pbs[r] = 0.0
        self.pss[r] = p.shadow_db**2
        return r

    def remove(self, r: int) -> int:
        """Drop row r by moving the last row into it; returns the index that moved (or r)."""
        last = self._n - 1
        if r != last:
            for a in (self.w, self.mb, self.ms, self.pbb, self.pbs, self.pss):
                a[r] = a[last]
        self._n = last
        return last

    def _grow(self) -> None:
        self._cap *= 2
        for name in ("w", "mb", "ms", "pbb", "pbs", "pss"):
            old = getattr(self, name)
            new = np.zeros((self._cap, old.shape[1]), DTYPE)
            new[: old.shape[0]] = old
            setattr(self, name, new)

    def step(self, count: Array, total: Array) -> None:
        """One frame for every row: `count` adverts summing to `total` dB (relative levels)."""
        for a in range(0, self._n, CHUNK):  # blocks of rows small enough to stay in cache
            b = min(a + CHUNK, self._n)
            self._step(a, b, count[a:b], total[a:b])

    def _step(self, a: int, b: int, count: Array, total: Array) -> None:
        n = b - a
        w, mb, ms = self.w[a:b], self.mb[a:b], self.ms[a:b]
        pbb, pbs, pss = self.pbb[a:b], self.pbs[a:b], self.pss[a:b]
        # 1. motion: move the probabilities and the first two moments of (offset, shadow)
        moments = np.empty((6 * n, w.shape[1]), DTYPE)
        m0, m1, m2, m3, m4, m5 = (moments[i * n : (i + 1) * n] for i in range(6))
        m0[:] = w
        np.multiply(w, mb, out=m1)
        np.multiply(w, ms, out=m2)
        np.multiply(mb, mb, out=m3)
        m3 += pbb
        m3 *= w
        np.multiply(mb, ms, out=m4)
        m4 += pbs
        m4 *= w
        np.multiply(ms, ms, out=m5)
        m5 += pss
        m5 *= w
        moved = self.model.transition.apply(moments)
        wn, e_b, e_s, e_bb, e_bs, e_ss = (moved[i * n : (i + 1) * n] for i in range(6))
        inv = np.maximum(wn, TINY)
        np.reciprocal(inv, out=inv)
        e_b *= inv  # the merged means ...
        e_s *= inv
        e_bb *= inv  # ... and covariances
        e_bb -= e_b * e_b
        np.maximum(e_bb, VAR_FLOOR, out=e_bb)
        e_bs *= inv
        e_bs -= e_b * e_s
        e_ss *= inv
        e_ss -= e_s * e_s
        np.maximum(e_ss, VAR_FLOOR, out=e_ss)
        rho = self._rho  # the shadowing decays toward zero and gains fresh variance
        e_s *= rho
        e_bs *= rho
        e_ss *= rho * rho
        e_ss += self._q
        # 2. evidence: a Kalman update per state and the state's likelihood
        heard = count > 0
        seen = np.maximum(count, 1)
        mean = np.where(heard, total / seen, 0.0)
        r = np.where(heard, self._noise2 / seen, NO_EVIDENCE_DB2)
        nu = mean.astype(DTYPE)[:, None] - self._expected - e_b - e_s  # innovation
        hb = e_bb + e_bs  # cov(offset, level) ...
        hs = e_bs + e_ss  # ... cov(shadow, level)
        s = hb + hs
        s += r.astype(DTYPE)[:, None]
        s += self._floor  # innovation variance
        kb = hb / s
        ks = hs / s
        lik = nu * nu
        lik /= s
        lik *= -0.5
        np.exp(lik, out=lik)
        lik /= np.sqrt(s)
        lik *= self._keep / math.sqrt(2 * math.pi)
        lik += self._outlier
        wn *= lik
        wn /= wn.sum(axis=1, keepdims=True)
        # a state that has become next to impossible forgets its (offset, shadow) estimate:
        # kept alive at the floor, it would otherwise fit any level with any offset for free
        # and could grow back from nothing
        lost = wn <= W_FLOOR
        np.maximum(wn, W_FLOOR, out=w)
        np.multiply(kb, nu, out=mb)
        mb += e_b
        np.multiply(ks, nu, out=ms)
        ms += e_s
        np.multiply(kb, hb, out=pbb)
        np.subtract(e_bb, pbb, out=pbb)
        np.multiply(kb, hs, out=pbs)
        np.subtract(e_bs, pbs, out=pbs)
        np.multiply(ks, hs, out=pss)
        np.subtract(e_ss, pss, out=pss)
        if lost.any():
            p = self.model.params
            mb[lost] = -p.body_loss_db
            ms[lost] = 0.0
            pbb[lost] = p.offset_sd_db**2
            pbs[lost] = 0.0
            pss[lost] = p.shadow_db**2

    def summary(self) -> Array:
        """rows x 6: P(near), P(within exit), P(immediate), P(trigger), P(visit), and the
        expected level relative to the advertised 1 m power (dB, offset and shadow included)."""
        n = self._n
        out: Array = self.w[:n] @ self._summary_cols
        out[:, LEVEL] += np.einsum("ij,ij->i", self.w[:n], self.mb[:n] + self.ms[:n])
        return out

    def level_db(self, r: int) -> float:
        """Row r's expected level relative to the advertised 1 m power (dB)."""
        m = self.model
        return float(self.w[r] @ (m.expected_db + self.mb[r] + self.ms[r]))

    def offset_db(self, r: int) -> float:
        """Row r's estimate of its beacon's fixed offset (dB), for tests and diagnostics."""
        return float(self.w[r] @ self.mb[r])
