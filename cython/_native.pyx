# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Private binding of the C++ kernels (fastnn._native).

Mechanical by design (STYLE.md §5): typed memoryviews in (# IN / # OUT), release the GIL,
one kernel call, return. Validation and allocation live in Python (fastnn._kernels).
Empty arrays arrive as memoryviews whose data pointer may not be dereferenced; kernels
never touch them when the corresponding size is 0.
"""
from libc.stdint cimport int64_t
from cython cimport floating

cimport kernels as k


# ---------------------------------------------------------------- configuration

def select_isa(str name):
    """0 ok, -1 unknown name, -2 not supported by this CPU."""
    return k.select_isa(name.encode())


def current_isa():
    return k.current_isa().decode()


def supported_isas():
    return k.supported_isas().decode()


def openmp_runtime():
    return k.openmp_runtime().decode()


def get_num_threads():
    return k.num_threads()


def set_num_threads(int n):
    k.set_num_threads(n)


def gemm_tile(str dtype):
    cdef int mr = 0, nr = 0
    if dtype == "float32":
        k.gemm_tile_f32(&mr, &nr)
    else:
        k.gemm_tile_f64(&mr, &nr)
    return mr, nr


# ---------------------------------------------------------------- GEMM

cdef inline const floating* ptr_or_null(const floating[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


def gemm(const floating[:, ::1] a,            # IN  op(a) is M×K
         const floating[:, ::1] b,            # IN  op(b) is K×N
         floating[:, ::1] c,                  # IN/OUT M×N
         bint trans_a, bint trans_b, double alpha, double beta,
         const floating[::1] bias,            # IN  N, or None
         int act, double p0, double p1, bint reference=False):
    cdef k.GemmArgs[floating] g
    g.M = c.shape[0]
    g.N = c.shape[1]
    g.K = a.shape[0] if trans_a else a.shape[1]
    g.A = &a[0, 0] if a.shape[0] > 0 and a.shape[1] > 0 else NULL
    g.lda = a.shape[1]
    g.trans_a = trans_a
    g.B = &b[0, 0] if b.shape[0] > 0 and b.shape[1] > 0 else NULL
    g.ldb = b.shape[1]
    g.trans_b = trans_b
    g.C = &c[0, 0] if c.shape[0] > 0 and c.shape[1] > 0 else NULL
    g.ldc = c.shape[1]
    g.alpha = <floating>alpha
    g.beta = <floating>beta
    g.bias = ptr_or_null(bias)
    g.act = act
    g.act_params.p0 = p0
    g.act_params.p1 = p1
    with nogil:
        if floating is float:
            if reference:
                k.gemm_ref_f32(g)
            else:
                k.gemm_f32(g)
        else:
            if reference:
                k.gemm_ref_f64(g)
            else:
                k.gemm_f64(g)


def bias_grad(const floating[:, ::1] dy,      # IN  B×F
              floating[::1] db):              # IN/OUT F, accumulated
    if dy.shape[0] == 0 or dy.shape[1] == 0:
        return
    with nogil:
        if floating is float:
            k.bias_grad_f32(&db[0], &dy[0, 0], dy.shape[0], dy.shape[1])
        else:
            k.bias_grad_f64(&db[0], &dy[0, 0], dy.shape[0], dy.shape[1])
