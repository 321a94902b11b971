"""What a kernel makes its own right after the clone, and what the zygote
prepares for it: the states of its random generators and the size of its
BLAS/OpenMP thread pools.

Compiled into pi-executor beside the runner (pi_runner imports it as
pi_kernelstate).  find_numpy_state() runs in the zygote; reseed() and
set_thread_pools() in every kernel, from runner.serve().
"""

import _random
import os
import random
import sys

import numpy as np


def set_thread_pools(n):
    """Resize the BLAS/OpenMP/numexpr pools loaded in the zygote to n threads.

    The zygote runs with one thread of each (a zygote with threads cannot
    clone kernels), and these libraries read their variables only when
    they load; the run's environment says n, and this makes it so.  Best
    effort: a library that is not loaded or has no setter is left alone."""
    if n <= 1:
        return
    try:
        import threadpoolctl
        threadpoolctl.threadpool_limits(n)
    except Exception:
        pass
    numexpr = sys.modules.get("numexpr")
    if numexpr is not None:
        try:
            numexpr.set_num_threads(n)
        except Exception:
            pass
    try:
        import ctypes
        with open("/proc/self/maps") as maps:
            paths = {line.split(None, 5)[5].strip() for line in maps
                     if len(line.split(None, 5)) == 6}
        setters = {"libopenblas": "openblas_set_num_threads",
                   "libgomp": "omp_set_num_threads",
                   "libomp": "omp_set_num_threads",
                   "libmkl_rt": "MKL_Set_Num_Threads"}
        for path in paths:
            name = os.path.basename(path)
            for prefix, symbol in setters.items():
                if name.startswith(prefix):
                    try:
                        getattr(ctypes.CDLL(path), symbol)(ctypes.c_int(n))
                    except (OSError, AttributeError):
                        pass
    except Exception:
        pass


# The legacy numpy generator's Mersenne Twister state in memory (624 key
# words, then the position), found in the zygote by find_numpy_state().
_MT_KEY_BYTES = 624 * 4
_numpy_state = []


def find_numpy_state():
    """In the zygote: a writable view of the global numpy RandomState's key
    and position, if its layout is the one reseed() writes (checked by
    setting a known state and reading it back); else nothing, and kernels
    use np.random.set_state."""
    import ctypes
    try:
        known = np.arange(624, dtype=np.uint32) + 1
        np.random.set_state(("MT19937", known, 624))
        address = np.random.mtrand._rand._bit_generator.ctypes.state_address
        view = memoryview((ctypes.c_uint8 * (_MT_KEY_BYTES + 4)).from_address(address)).cast("B")
        if bytes(view) == known.astype("<u4").tobytes() + (624).to_bytes(4, "little"):
            _numpy_state.append(view)
    except Exception:
        pass


def reseed():
    """Give this kernel's random generators states of their own, from the
    OS: the stdlib's (Python's fork hook would do it, but kernels skip the
    hooks: see executor/child.c) and numpy's legacy one, both seeded once
    in the zygote; otherwise every run would draw the same numbers.  Both
    get a full Mersenne Twister state of 624 words.  numpy's is written
    into the generator's memory: np.random.set_state copies ~120 pages of
    the zygote in each kernel, np.random.seed() more (measured); the state
    is the same as set_state(("MT19937", words, 624)) makes, and the
    zygote left no cached Gaussian behind (prepare)."""
    _random.Random.seed(random._inst)
    if _numpy_state:
        _numpy_state[0][:_MT_KEY_BYTES] = os.urandom(_MT_KEY_BYTES)
    else:
        words = np.frombuffer(os.urandom(_MT_KEY_BYTES), dtype=np.uint32)
        np.random.set_state(("MT19937", words, 624))
