# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
# distutils: language = c++
"""Private binding of the C++ kernels (fastnn._native).

Mechanical by design (STYLE.md §5): typed memoryviews in (# IN / # OUT), release the GIL,
one kernel call, return. Validation and allocation live in Python (fastnn._kernels).
Empty arrays arrive as memoryviews whose data pointer may not be dereferenced; kernels
never touch them when the corresponding size is 0.
"""
from libc.stdint cimport int64_t, uint64_t
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


def avx512_emulated():
    return bool(k.avx512_emulated())


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

cdef inline int check_len(str kernel, str name, Py_ssize_t got, Py_ssize_t n) except -1:
    """ValueError unless a buffer has the expected length n (got -1: absent, fine)."""
    if got != -1 and got != n:
        raise ValueError(f"{kernel}: {name} has {got} elements, expected {n}")
    return 0


cdef inline Py_ssize_t len_or_absent(const floating[::1] v):
    return -1 if v is None else v.shape[0]


cdef inline int check_same_shape(str kernel, str name, Py_ssize_t r, Py_ssize_t c, Py_ssize_t r0,
                                 Py_ssize_t c0) except -1:
    if r != r0 or c != c0:
        raise ValueError(f"{kernel}: {name} has shape ({r}, {c}), expected ({r0}, {c0})")
    return 0


cdef inline int check_norm_stats(str kernel, Py_ssize_t n_mean, Py_ssize_t n_invstd, Py_ssize_t nstat,
                                 Py_ssize_t n_gamma, Py_ssize_t nf) except -1:
    """The lengths a normalisation kernel's statistics (nstat each) and gamma (nf, or -1: absent) must have."""
    check_len(kernel, "mean", n_mean, nstat)
    check_len(kernel, "invstd", n_invstd, nstat)
    check_len(kernel, "gamma", n_gamma, nf)
    return 0


cdef inline const floating* ptr_or_null(const floating[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


def gemm(const floating[:, ::1] a,            # IN  op(a) is M×K
         const floating[:, ::1] b,            # IN  op(b) is K×N
         floating[:, ::1] c,                  # IN/OUT M×N
         bint trans_a, bint trans_b, double alpha, double beta,
         const floating[::1] bias,            # IN  N, or None
         int act, double p0, double p1, bint reference=False):
    # Shapes are checked here too (a few compares): internal callers pass arrays users can
    # replace (a parameter's .grad), and a mismatch must be an error, never an access out of bounds.
    cdef Py_ssize_t rows_a = a.shape[1] if trans_a else a.shape[0], K = a.shape[0] if trans_a else a.shape[1]
    cdef Py_ssize_t rows_b = b.shape[1] if trans_b else b.shape[0], cols_b = b.shape[0] if trans_b else b.shape[1]
    if rows_a != c.shape[0] or cols_b != c.shape[1] or rows_b != K:
        raise ValueError(f"gemm: op(a) is {rows_a}x{K} and op(b) {rows_b}x{cols_b}, so out must be "
                         f"{rows_a}x{cols_b}; got out of shape ({c.shape[0]}, {c.shape[1]})")
    if bias is not None and bias.shape[0] != c.shape[1]:
        raise ValueError(f"gemm: bias has length {bias.shape[0]}, out has {c.shape[1]} columns")
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
    if db.shape[0] != dy.shape[1]:
        raise ValueError(f"bias_grad: grad_bias has length {db.shape[0]}, grad_y has {dy.shape[1]} columns")
    if dy.shape[0] == 0 or dy.shape[1] == 0:
        return
    with nogil:
        if floating is float:
            k.bias_grad_f32(&db[0], &dy[0, 0], dy.shape[0], dy.shape[1])
        else:
            k.bias_grad_f64(&db[0], &dy[0, 0], dy.shape[0], dy.shape[1])


# ---------------------------------------------------------------- activations

def act_forward(const floating[::1] x,           # IN  N
                floating[::1] y,                 # OUT N (may be x)
                int act, double p0, double p1):
    cdef k.ActParams p
    p.p0 = p0
    p.p1 = p1
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"act_forward: out has {y.shape[0]} elements, x has {x.shape[0]}")
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            k.act_forward_f32(&y[0], &x[0], x.shape[0], act, p)
        else:
            k.act_forward_f64(&y[0], &x[0], x.shape[0], act, p)


def act_backward(const floating[::1] dy,         # IN  N
                 const floating[::1] x,          # IN  N
                 const floating[::1] y,          # IN  N
                 floating[::1] dx,               # OUT N (may alias an input)
                 int act, double p0, double p1):
    cdef k.ActParams p
    p.p0 = p0
    p.p1 = p1
    if x.shape[0] != dy.shape[0] or y.shape[0] != dy.shape[0] or dx.shape[0] != dy.shape[0]:
        raise ValueError(f"act_backward: grad_y, x, y and out must have one length, got {dy.shape[0]}, "
                         f"{x.shape[0]}, {y.shape[0]} and {dx.shape[0]}")
    if dy.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            k.act_backward_f32(&dx[0], &dy[0], &x[0], &y[0], dy.shape[0], act, p)
        else:
            k.act_backward_f64(&dx[0], &dy[0], &x[0], &y[0], dy.shape[0], act, p)


# ---------------------------------------------------------------- dropout, RReLU (cpp/dropout.cpp)

cdef inline floating* out_ptr_or_null(floating[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


def dropout(const floating[::1] x,               # IN  N (grad_y for backward)
            floating[::1] y,                     # OUT N (may be x)
            uint64_t seed, uint64_t stream, uint64_t keep32, double scale, bint backward):
    if y.shape[0] != x.shape[0]:
        raise ValueError(f"dropout: out has {y.shape[0]} elements, the input {x.shape[0]}")
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            if backward:
                k.dropout_backward_f32(&y[0], &x[0], x.shape[0], seed, stream, keep32, scale)
            else:
                k.dropout_forward_f32(&y[0], &x[0], x.shape[0], seed, stream, keep32, scale)
        else:
            if backward:
                k.dropout_backward_f64(&y[0], &x[0], x.shape[0], seed, stream, keep32, scale)
            else:
                k.dropout_forward_f64(&y[0], &x[0], x.shape[0], seed, stream, keep32, scale)


def rrelu_slopes(floating[::1] out,              # OUT N
                 double lower, double upper, uint64_t seed, uint64_t stream):
    if out.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            k.rrelu_slopes_f32(&out[0], out.shape[0], lower, upper, seed, stream)
        else:
            k.rrelu_slopes_f64(&out[0], out.shape[0], lower, upper, seed, stream)


# ---------------------------------------------------------------- normalisation (cpp/norm.cpp)

def norm_forward(const floating[:, ::1] x,       # IN  B×F
                 floating[:, ::1] y,             # OUT B×F (may be x)
                 floating[::1] mean,             # OUT F (batch) or B (layer)
                 floating[::1] invstd,           # OUT like mean
                 const floating[::1] gamma,      # IN  F, or None
                 const floating[::1] beta,       # IN  F, or None
                 double eps, bint layer,
                 floating[::1] running_mean=None,  # IN/OUT F, or None (batch only)
                 floating[::1] running_var=None,   # IN/OUT F, or None (batch only)
                 double momentum=0.0,
                 bint relu=False, bint dropout=False,  # fused after BatchNorm (batch only)
                 uint64_t seed=0, uint64_t stream=0, uint64_t keep32=0, double scale=1.0):
    cdef Py_ssize_t nstat = x.shape[0] if layer else x.shape[1]
    check_same_shape("norm_forward", "out", y.shape[0], y.shape[1], x.shape[0], x.shape[1])
    check_norm_stats("norm_forward", mean.shape[0], invstd.shape[0], nstat, len_or_absent(gamma), x.shape[1])
    check_len("norm_forward", "beta", len_or_absent(beta), x.shape[1])
    check_len("norm_forward", "running_mean", len_or_absent(running_mean), x.shape[1])
    check_len("norm_forward", "running_var", len_or_absent(running_var), x.shape[1])
    if x.shape[0] == 0 or x.shape[1] == 0:
        return
    cdef const floating* pg = ptr_or_null(gamma)
    cdef const floating* pb = ptr_or_null(beta)
    cdef floating* prm = out_ptr_or_null(running_mean)
    cdef floating* prv = out_ptr_or_null(running_var)
    cdef k.BnPost post
    post.relu, post.dropout, post.seed, post.stream, post.keep32, post.scale = relu, dropout, seed, stream, keep32, scale
    with nogil:
        if floating is float:
            if layer:
                k.layernorm_forward_f32(&y[0, 0], &mean[0], &invstd[0], &x[0, 0], pg,
                                        pb, x.shape[0], x.shape[1], eps)
            else:
                k.batchnorm_forward_f32(&y[0, 0], &mean[0], &invstd[0], &x[0, 0], pg,
                                        pb, x.shape[0], x.shape[1], eps, prm, prv, momentum, post)
        else:
            if layer:
                k.layernorm_forward_f64(&y[0, 0], &mean[0], &invstd[0], &x[0, 0], pg,
                                        pb, x.shape[0], x.shape[1], eps)
            else:
                k.batchnorm_forward_f64(&y[0, 0], &mean[0], &invstd[0], &x[0, 0], pg,
                                        pb, x.shape[0], x.shape[1], eps, prm, prv, momentum, post)


def batchnorm_inference(const floating[:, ::1] x,   # IN  B×F
                        floating[:, ::1] y,         # OUT B×F (may be x)
                        const floating[::1] mean,   # IN  F
                        const floating[::1] var,    # IN  F
                        const floating[::1] gamma,  # IN  F, or None
                        const floating[::1] beta,   # IN  F, or None
                        double eps):
    cdef Py_ssize_t nf = x.shape[1]
    check_same_shape("batchnorm_inference", "out", y.shape[0], y.shape[1], x.shape[0], nf)
    check_len("batchnorm_inference", "mean", mean.shape[0], nf)
    check_len("batchnorm_inference", "var", var.shape[0], nf)
    check_len("batchnorm_inference", "gamma", len_or_absent(gamma), nf)
    check_len("batchnorm_inference", "beta", len_or_absent(beta), nf)
    if x.shape[0] == 0 or x.shape[1] == 0:
        return
    cdef const floating* pg = ptr_or_null(gamma)
    cdef const floating* pb = ptr_or_null(beta)
    with nogil:
        if floating is float:
            k.batchnorm_inference_f32(&y[0, 0], &x[0, 0], &mean[0], &var[0], pg, pb,
                                      x.shape[0], x.shape[1], eps)
        else:
            k.batchnorm_inference_f64(&y[0, 0], &x[0, 0], &mean[0], &var[0], pg, pb,
                                      x.shape[0], x.shape[1], eps)


def norm_backward(const floating[:, ::1] dy,     # IN  B×F
                  const floating[:, ::1] x,      # IN  B×F
                  const floating[::1] mean,      # IN  F (batch) or B (layer)
                  const floating[::1] invstd,    # IN  like mean
                  const floating[::1] gamma,     # IN  F, or None
                  floating[::1] dgamma,          # IN/OUT F accumulated, or None
                  floating[::1] dbeta,           # IN/OUT F accumulated, or None
                  floating[:, ::1] dx,           # OUT B×F (may be dy)
                  bint layer,
                  const floating[:, ::1] post_y=None,   # IN B×F fused BatchNorm output, or None
                  double post_scale=1.0):
    cdef Py_ssize_t nstat = dy.shape[0] if layer else dy.shape[1]
    check_same_shape("norm_backward", "x", x.shape[0], x.shape[1], dy.shape[0], dy.shape[1])
    check_same_shape("norm_backward", "out", dx.shape[0], dx.shape[1], dy.shape[0], dy.shape[1])
    if post_y is not None:
        check_same_shape("norm_backward", "y", post_y.shape[0], post_y.shape[1], dy.shape[0], dy.shape[1])
    check_norm_stats("norm_backward", mean.shape[0], invstd.shape[0], nstat, len_or_absent(gamma), dy.shape[1])
    check_len("norm_backward", "grad_gamma", len_or_absent(dgamma), dy.shape[1])
    check_len("norm_backward", "grad_beta", len_or_absent(dbeta), dy.shape[1])
    cdef const floating* ppy = &post_y[0, 0] if post_y is not None and dy.shape[0] > 0 and dy.shape[1] > 0 else NULL
    if dy.shape[0] == 0 or dy.shape[1] == 0:
        return
    cdef const floating* pg = ptr_or_null(gamma)
    cdef floating* pdg = out_ptr_or_null(dgamma)
    cdef floating* pdb = out_ptr_or_null(dbeta)
    with nogil:
        if floating is float:
            if layer:
                k.layernorm_backward_f32(&dx[0, 0], pdg, pdb, &dy[0, 0],
                                         &x[0, 0], &mean[0], &invstd[0], pg, dy.shape[0], dy.shape[1])
            else:
                k.batchnorm_backward_f32(&dx[0, 0], pdg, pdb, &dy[0, 0],
                                         &x[0, 0], &mean[0], &invstd[0], pg, dy.shape[0], dy.shape[1],
                                         ppy, post_scale)
        else:
            if layer:
                k.layernorm_backward_f64(&dx[0, 0], pdg, pdb, &dy[0, 0],
                                         &x[0, 0], &mean[0], &invstd[0], pg, dy.shape[0], dy.shape[1])
            else:
                k.batchnorm_backward_f64(&dx[0, 0], pdg, pdb, &dy[0, 0],
                                         &x[0, 0], &mean[0], &invstd[0], pg, dy.shape[0], dy.shape[1],
                                         ppy, post_scale)


# ---------------------------------------------------------------- losses (cpp/loss.cpp)

def softmax_cross_entropy_labels(const floating[:, ::1] logits,  # IN  B×C
                                 const int64_t[::1] labels,      # IN  B, in [0, C)
                                 floating[::1] grad,             # OUT B·C flat, or None
                                 double label_smoothing, bint mean):
    cdef double r = 0.0
    cdef Py_ssize_t i, C = logits.shape[1]
    check_len("softmax_cross_entropy", "labels", labels.shape[0], logits.shape[0])
    check_len("softmax_cross_entropy", "grad", len_or_absent(grad), logits.shape[0] * C)
    for i in range(labels.shape[0]):                 # the kernel indexes the logits with them
        if labels[i] < 0 or labels[i] >= C:
            raise ValueError(f"softmax_cross_entropy: label {labels[i]} at index {i} is out of range [0, {C})")
    if logits.shape[0] == 0:
        return r
    cdef floating* pgrad = out_ptr_or_null(grad)
    with nogil:
        if floating is float:
            r = k.softmax_cross_entropy_labels_f32(pgrad, &logits[0, 0], &labels[0], logits.shape[0],
                                                   logits.shape[1], label_smoothing, mean)
        else:
            r = k.softmax_cross_entropy_labels_f64(pgrad, &logits[0, 0], &labels[0], logits.shape[0],
                                                   logits.shape[1], label_smoothing, mean)
    return r


def softmax_cross_entropy_probs(const floating[:, ::1] logits,   # IN  B×C
                                const floating[:, ::1] probs,    # IN  B×C
                                floating[::1] grad,              # OUT B·C flat, or None
                                double label_smoothing, bint mean):
    cdef double r = 0.0
    check_same_shape("softmax_cross_entropy", "target", probs.shape[0], probs.shape[1], logits.shape[0],
                     logits.shape[1])
    check_len("softmax_cross_entropy", "grad", len_or_absent(grad), logits.shape[0] * logits.shape[1])
    if logits.shape[0] == 0 or logits.shape[1] == 0:
        return r
    cdef floating* pgrad = out_ptr_or_null(grad)
    with nogil:
        if floating is float:
            r = k.softmax_cross_entropy_probs_f32(pgrad, &logits[0, 0], &probs[0, 0], logits.shape[0],
                                                  logits.shape[1], label_smoothing, mean)
        else:
            r = k.softmax_cross_entropy_probs_f64(pgrad, &logits[0, 0], &probs[0, 0], logits.shape[0],
                                                  logits.shape[1], label_smoothing, mean)
    return r


def pointwise_loss(const floating[::1] pred, const floating[::1] target,   # IN  N, N
                   floating[::1] grad,                                     # OUT N, or None
                   int kind, double delta, bint mean):
    """kind 0: MSE, 1: BCE with logits, 2: Huber(delta)."""
    cdef double r = 0.0
    check_len("pointwise_loss", "target", target.shape[0], pred.shape[0])
    check_len("pointwise_loss", "grad", len_or_absent(grad), pred.shape[0])
    if kind < 0 or kind > 2:
        raise ValueError(f"pointwise_loss: unknown kind {kind}")
    if pred.shape[0] == 0:
        return r
    cdef floating* pgrad = out_ptr_or_null(grad)
    cdef int64_t n = pred.shape[0]
    with nogil:
        if floating is float:
            if kind == 0:
                r = k.mse_loss_f32(pgrad, &pred[0], &target[0], n, mean)
            elif kind == 1:
                r = k.bce_with_logits_f32(pgrad, &pred[0], &target[0], n, mean)
            else:
                r = k.huber_loss_f32(pgrad, &pred[0], &target[0], n, delta, mean)
        else:
            if kind == 0:
                r = k.mse_loss_f64(pgrad, &pred[0], &target[0], n, mean)
            elif kind == 1:
                r = k.bce_with_logits_f64(pgrad, &pred[0], &target[0], n, mean)
            else:
                r = k.huber_loss_f64(pgrad, &pred[0], &target[0], n, delta, mean)
    return r


# ---------------------------------------------------------------- optimizers (cpp/optim.h)

from libcpp.vector cimport vector


cdef inline floating* mut_or_null(floating[::1] v):
    return &v[0] if v is not None and v.shape[0] > 0 else NULL


def sgd_step(floating[::1] param,                # IN/OUT N
             const floating[::1] grad,           # IN  N
             floating[::1] momentum_buffer,      # IN/OUT N, or None (momentum == 0)
             double lr, double momentum, double dampening, double weight_decay,
             bint nesterov, bint init_buffer):
    cdef k.SgdHyper h
    h.lr, h.momentum, h.dampening, h.weight_decay = lr, momentum, dampening, weight_decay
    h.nesterov, h.init_buffer = nesterov, init_buffer
    cdef int64_t n = param.shape[0]
    check_len("sgd_step", "grad", grad.shape[0], n)
    check_len("sgd_step", "momentum_buffer", len_or_absent(momentum_buffer), n)
    cdef floating* buf = mut_or_null(momentum_buffer)
    if n == 0:
        return
    with nogil:
        if floating is float:
            k.sgd_step_f32(&param[0], buf, &grad[0], n, h)
        else:
            k.sgd_step_f64(&param[0], buf, &grad[0], n, h)


def adagrad_step(floating[::1] param,            # IN/OUT N
                 const floating[::1] grad,       # IN  N
                 floating[::1] state_sum,        # IN/OUT N
                 double clr, double weight_decay, double eps):
    cdef k.AdagradHyper h
    h.clr, h.weight_decay, h.eps = clr, weight_decay, eps
    cdef int64_t n = param.shape[0]
    check_len("adagrad_step", "grad", grad.shape[0], n)
    check_len("adagrad_step", "state_sum", state_sum.shape[0], n)
    if n == 0:
        return
    with nogil:
        if floating is float:
            k.adagrad_step_f32(&param[0], &state_sum[0], &grad[0], n, h)
        else:
            k.adagrad_step_f64(&param[0], &state_sum[0], &grad[0], n, h)


def adadelta_step(floating[::1] param,           # IN/OUT N
                  const floating[::1] grad,      # IN  N
                  floating[::1] square_avg,      # IN/OUT N
                  floating[::1] acc_delta,       # IN/OUT N
                  double lr, double rho, double eps, double weight_decay):
    cdef k.AdadeltaHyper h
    h.lr, h.rho, h.eps, h.weight_decay = lr, rho, eps, weight_decay
    cdef int64_t n = param.shape[0]
    check_len("adadelta_step", "grad", grad.shape[0], n)
    check_len("adadelta_step", "square_avg", square_avg.shape[0], n)
    check_len("adadelta_step", "acc_delta", acc_delta.shape[0], n)
    if n == 0:
        return
    with nogil:
        if floating is float:
            k.adadelta_step_f32(&param[0], &square_avg[0], &acc_delta[0], &grad[0], n, h)
        else:
            k.adadelta_step_f64(&param[0], &square_avg[0], &acc_delta[0], &grad[0], n, h)


def rmsprop_step(floating[::1] param,            # IN/OUT N
                 const floating[::1] grad,       # IN  N
                 floating[::1] square_avg,       # IN/OUT N
                 floating[::1] grad_avg,         # IN/OUT N, or None (not centred)
                 floating[::1] momentum_buffer,  # IN/OUT N, or None (momentum == 0)
                 double lr, double alpha, double eps, double weight_decay, double momentum):
    cdef k.RmspropHyper h
    h.lr, h.alpha, h.eps, h.weight_decay, h.momentum = lr, alpha, eps, weight_decay, momentum
    cdef int64_t n = param.shape[0]
    check_len("rmsprop_step", "grad", grad.shape[0], n)
    check_len("rmsprop_step", "square_avg", square_avg.shape[0], n)
    check_len("rmsprop_step", "grad_avg", len_or_absent(grad_avg), n)
    check_len("rmsprop_step", "momentum_buffer", len_or_absent(momentum_buffer), n)
    cdef floating* gavg = mut_or_null(grad_avg)
    cdef floating* buf = mut_or_null(momentum_buffer)
    if n == 0:
        return
    with nogil:
        if floating is float:
            k.rmsprop_step_f32(&param[0], &square_avg[0], gavg, buf, &grad[0], n, h)
        else:
            k.rmsprop_step_f64(&param[0], &square_avg[0], gavg, buf, &grad[0], n, h)


def adam_step(floating[::1] param,               # IN/OUT N
              const floating[::1] grad,          # IN  N
              floating[::1] exp_avg,             # IN/OUT N
              floating[::1] exp_avg_sq,          # IN/OUT N
              floating[::1] max_exp_avg_sq,      # IN/OUT N, or None (no AMSGrad)
              double lr, double beta1, double beta2, double eps, double weight_decay, bint decoupled,
              double bias_correction1, double bias_correction2):
    cdef k.AdamHyper h
    h.lr, h.beta1, h.beta2, h.eps, h.weight_decay = lr, beta1, beta2, eps, weight_decay
    h.decoupled, h.bias_correction1, h.bias_correction2 = decoupled, bias_correction1, bias_correction2
    cdef int64_t n = param.shape[0]
    check_len("adam_step", "grad", grad.shape[0], n)
    check_len("adam_step", "exp_avg", exp_avg.shape[0], n)
    check_len("adam_step", "exp_avg_sq", exp_avg_sq.shape[0], n)
    check_len("adam_step", "max_exp_avg_sq", len_or_absent(max_exp_avg_sq), n)
    cdef floating* vmax = mut_or_null(max_exp_avg_sq)
    if n == 0:
        return
    with nogil:
        if floating is float:
            k.adam_step_f32(&param[0], &exp_avg[0], &exp_avg_sq[0], vmax, &grad[0], n, h)
        else:
            k.adam_step_f64(&param[0], &exp_avg[0], &exp_avg_sq[0], vmax, &grad[0], n, h)


def buffers_reduce(list buffers,                 # IN  1-D arrays of the one dtype `dtype`
                   str dtype, bint squares, bint probe=False):
    """probe: 0 if every element is finite, else NaN; squares: Σx² over all buffers; else
    max |x| (all in f64)."""
    cdef vector[const float*] p32
    cdef vector[const double*] p64
    cdef vector[int64_t] sizes
    cdef const float[::1] v32
    cdef const double[::1] v64
    cdef double r
    cdef bint f32 = dtype == "float32"
    for b in buffers:
        if f32:
            v32 = b
            p32.push_back(&v32[0] if v32.shape[0] > 0 else NULL)
            sizes.push_back(v32.shape[0])
        else:
            v64 = b
            p64.push_back(&v64[0] if v64.shape[0] > 0 else NULL)
            sizes.push_back(v64.shape[0])
    with nogil:
        if probe:
            r = k.nonfinite_probe_f32(p32.data(), sizes.data(), sizes.size()) if f32 else \
                k.nonfinite_probe_f64(p64.data(), sizes.data(), sizes.size())
        elif f32:
            r = k.sum_squares_f32(p32.data(), sizes.data(), sizes.size()) if squares else \
                k.max_abs_f32(p32.data(), sizes.data(), sizes.size())
        else:
            r = k.sum_squares_f64(p64.data(), sizes.data(), sizes.size()) if squares else \
                k.max_abs_f64(p64.data(), sizes.data(), sizes.size())
    return r


def scale_inplace(floating[::1] x, double alpha):           # x: IN/OUT N
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            k.scale_inplace_f32(&x[0], x.shape[0], alpha)
        else:
            k.scale_inplace_f64(&x[0], x.shape[0], alpha)


def clamp_inplace(floating[::1] x, double lo, double hi):   # x: IN/OUT N
    if x.shape[0] == 0:
        return
    with nogil:
        if floating is float:
            k.clamp_inplace_f32(&x[0], x.shape[0], lo, hi)
        else:
            k.clamp_inplace_f64(&x[0], x.shape[0], lo, hi)


def renorm_rows(floating[:, ::1] w, double max_norm):       # w: IN/OUT R×C
    if w.shape[0] == 0 or w.shape[1] == 0:
        return
    with nogil:
        if floating is float:
            k.renorm_rows_f32(&w[0, 0], w.shape[0], w.shape[1], max_norm)
        else:
            k.renorm_rows_f64(&w[0, 0], w.shape[0], w.shape[1], max_norm)


def penalty_grad(floating[::1] grad,             # IN/OUT N, accumulated
                 const floating[::1] weight,     # IN  N
                 double strength, int order):
    """order 1: grad += s·sign(w), returns Σ|w|; order 2: grad += s·w, returns Σw²."""
    cdef double r = 0.0
    check_len("penalty_grad", "weight", weight.shape[0], grad.shape[0])
    if grad.shape[0] == 0:
        return r
    with nogil:
        if floating is float:
            r = k.l1_penalty_grad_f32(&grad[0], &weight[0], grad.shape[0], strength) if order == 1 else \
                k.l2_penalty_grad_f32(&grad[0], &weight[0], grad.shape[0], strength)
        else:
            r = k.l1_penalty_grad_f64(&grad[0], &weight[0], grad.shape[0], strength) if order == 1 else \
                k.l2_penalty_grad_f64(&grad[0], &weight[0], grad.shape[0], strength)
    return r


# ---------------------------------------------------------------- multi-tensor updates (cpp/optim.cpp)

cdef class TensorList:
    """Rows of 1-D C-contiguous arrays of one length and dtype per row (None: absent), with
    their data pointers taken once: a multi-tensor update is then one call whatever the
    number of parameters. Holds references to every array, so the pointers stay valid."""
    cdef list rows
    cdef int width
    cdef vector[void*] ptrs                      # row-major, width per row; NULL for None or empty
    cdef vector[int64_t] sizes
    cdef vector[char] f64
    cdef vector[double] _no_values               # per-row values of the rules that have none

    def __init__(self, list rows, int width):
        cdef float[::1] v32
        cdef double[::1] v64
        cdef int64_t n
        self.rows = [tuple(r) for r in rows]
        self.width = width
        for i, row in enumerate(self.rows):
            if len(row) != width:
                raise ValueError(f"tensor list row {i} has {len(row)} arrays, expected {width}")
            first = row[0]
            is64 = first.dtype.itemsize == 8
            n = first.shape[0]
            for a in row:
                if a is None:
                    self.ptrs.push_back(NULL)
                    continue
                if a.dtype != first.dtype or a.ndim != 1 or a.shape[0] != n:
                    raise ValueError(f"tensor list row {i}: every array must be 1-D of length {n} and dtype "
                                     f"{first.dtype}, got shape {a.shape} and dtype {a.dtype}")
                if is64:
                    v64 = a
                    self.ptrs.push_back(<void*>&v64[0] if n > 0 else NULL)
                else:
                    v32 = a
                    self.ptrs.push_back(<void*>&v32[0] if n > 0 else NULL)
            self.sizes.push_back(n)
            self.f64.push_back(is64)

    def __len__(self):
        return len(self.rows)

    def all_finite(self):
        """True when every element of every array is finite (one probe per dtype)."""
        cdef vector[const float*] p32
        cdef vector[const double*] p64
        cdef vector[int64_t] n32, n64
        cdef Py_ssize_t i, j
        cdef void* q
        cdef double r32 = 0.0, r64 = 0.0
        for i in range(<Py_ssize_t>self.sizes.size()):
            for j in range(self.width):
                q = self.ptrs[i * self.width + j]
                if q == NULL:
                    continue
                if self.f64[i]:
                    p64.push_back(<const double*>q)
                    n64.push_back(self.sizes[i])
                else:
                    p32.push_back(<const float*>q)
                    n32.push_back(self.sizes[i])
        with nogil:
            if p32.size():
                r32 = k.nonfinite_probe_f32(p32.data(), n32.data(), p32.size())
            if p64.size():
                r64 = k.nonfinite_probe_f64(p64.data(), n64.data(), p64.size())
        return r32 == 0.0 and r64 == 0.0

    cdef int _check_rows(self, str rule, int width, str required, dict per_row) except -1:
        """Check the row width, that every non-empty row has its required columns
        (``required[j] == 'r'``; the kernels read them unchecked) and that each per-row list has
        one entry per row."""
        if self.width != width:
            raise ValueError(f"{rule} needs rows of {width} arrays, this tensor list has {self.width}")
        cdef Py_ssize_t rows = self.sizes.size(), i, j
        for name, values in per_row.items():
            if len(values) != rows:
                raise ValueError(f"{rule}: {rows} rows but {len(values)} {name}")
        for i in range(rows):
            for j in range(width):
                if required[j] == "r" and self.sizes[i] > 0 and self.ptrs[i * width + j] == NULL:
                    raise ValueError(f"{rule}: row {i} has no array in column {j}")
        return 0

    cdef bint _each_row(self, k.RowUpdate update, const void* hyper, const vector[double]& per_row,
                        int per_row_width, bint check_finite) noexcept nogil:
        """update on every row (k.update_rows: the rows cut over the threads as one flat range);
        check_finite: only when every gradient (column 1) is finite. True when updated."""
        return k.update_rows(self.ptrs.data(), self.width, self.sizes.data(), self.f64.data(), self.sizes.size(),
                             update, hyper, per_row.data(), per_row_width, 1 if check_finite else -1)

    def sgd(self, double lr, double momentum, double dampening, bint nesterov, double weight_decay,
            init_buffers, bint check_finite=False):
        """sgd_step on every row (param, grad, momentum_buffer or None), init_buffer per row.
        check_finite (every rule): update only if every gradient is finite; returns whether it did."""
        self._check_rows("sgd", 3, "rr-", {"init_buffers": init_buffers})
        cdef vector[double] init = [1.0 if b else 0.0 for b in init_buffers]
        cdef k.SgdHyper h
        h.lr, h.momentum, h.dampening, h.nesterov, h.weight_decay = lr, momentum, dampening, nesterov, weight_decay
        cdef bint done
        with nogil:
            done = self._each_row(_sgd_row, &h, init, 1, check_finite)
        return done

    def adagrad(self, clrs, double weight_decay, double eps, bint check_finite=False):
        """adagrad_step on every row (param, grad, state_sum), each with its own clr."""
        self._check_rows("adagrad", 3, "rrr", {"clrs": clrs})
        cdef vector[double] clr = clrs
        cdef k.AdagradHyper h
        h.weight_decay, h.eps = weight_decay, eps
        cdef bint done
        with nogil:
            done = self._each_row(_adagrad_row, &h, clr, 1, check_finite)
        return done

    def adadelta(self, double lr, double rho, double eps, double weight_decay, bint check_finite=False):
        """adadelta_step on every row (param, grad, square_avg, acc_delta)."""
        self._check_rows("adadelta", 4, "rrrr", {})
        cdef k.AdadeltaHyper h
        h.lr, h.rho, h.eps, h.weight_decay = lr, rho, eps, weight_decay
        cdef bint done
        with nogil:
            done = self._each_row(_adadelta_row, &h, self._no_values, 0, check_finite)
        return done

    def rmsprop(self, double lr, double alpha, double eps, double weight_decay, double momentum,
                bint check_finite=False):
        """rmsprop_step on every row (param, grad, square_avg, grad_avg or None, momentum_buffer or None)."""
        self._check_rows("rmsprop", 5, "rrr--", {})
        cdef k.RmspropHyper h
        h.lr, h.alpha, h.eps, h.weight_decay, h.momentum = lr, alpha, eps, weight_decay, momentum
        cdef bint done
        with nogil:
            done = self._each_row(_rmsprop_row, &h, self._no_values, 0, check_finite)
        return done

    def adam(self, double lr, double beta1, double beta2, double eps, double weight_decay, bint decoupled,
             bias_corrections1, bias_corrections2, bint check_finite=False):
        """adam_step on every row (param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq or None), with
        its own bias corrections."""
        self._check_rows("adam", 5, "rrrr-", {"bias_corrections1": bias_corrections1,
                                              "bias_corrections2": bias_corrections2})
        cdef vector[double] bc = [c for pair in zip(bias_corrections1, bias_corrections2) for c in pair]
        cdef k.AdamHyper h
        h.lr, h.beta1, h.beta2, h.eps, h.weight_decay, h.decoupled = lr, beta1, beta2, eps, weight_decay, decoupled
        cdef bint done
        with nogil:
            done = self._each_row(_adam_row, &h, bc, 2, check_finite)
        return done


# n elements of one row (param, grad, *state) of a TensorList through the rule's kernel: r
# the row's pointers, already at the piece (null where absent), h the shared
# hyper-parameters, v the row's own values (in the rule's order).

cdef void _sgd_row(void* const* r, int64_t n, int f64, const void* h, const double* v) noexcept nogil:
    cdef k.SgdHyper hp = (<const k.SgdHyper*>h)[0]
    hp.init_buffer = v[0] != 0.0
    if f64:
        k.sgd_step_f64(<double*>r[0], <double*>r[2], <const double*>r[1], n, hp)
    else:
        k.sgd_step_f32(<float*>r[0], <float*>r[2], <const float*>r[1], n, hp)


cdef void _adagrad_row(void* const* r, int64_t n, int f64, const void* h, const double* v) noexcept nogil:
    cdef k.AdagradHyper hp = (<const k.AdagradHyper*>h)[0]
    hp.clr = v[0]
    if f64:
        k.adagrad_step_f64(<double*>r[0], <double*>r[2], <const double*>r[1], n, hp)
    else:
        k.adagrad_step_f32(<float*>r[0], <float*>r[2], <const float*>r[1], n, hp)


cdef void _adadelta_row(void* const* r, int64_t n, int f64, const void* h, const double* v) noexcept nogil:
    cdef const k.AdadeltaHyper* hp = <const k.AdadeltaHyper*>h
    if f64:
        k.adadelta_step_f64(<double*>r[0], <double*>r[2], <double*>r[3], <const double*>r[1], n, hp[0])
    else:
        k.adadelta_step_f32(<float*>r[0], <float*>r[2], <float*>r[3], <const float*>r[1], n, hp[0])


cdef void _rmsprop_row(void* const* r, int64_t n, int f64, const void* h, const double* v) noexcept nogil:
    cdef const k.RmspropHyper* hp = <const k.RmspropHyper*>h
    if f64:
        k.rmsprop_step_f64(<double*>r[0], <double*>r[2], <double*>r[3], <double*>r[4], <const double*>r[1], n,
                           hp[0])
    else:
        k.rmsprop_step_f32(<float*>r[0], <float*>r[2], <float*>r[3], <float*>r[4], <const float*>r[1], n, hp[0])


cdef void _adam_row(void* const* r, int64_t n, int f64, const void* h, const double* v) noexcept nogil:
    cdef k.AdamHyper hp = (<const k.AdamHyper*>h)[0]
    hp.bias_correction1, hp.bias_correction2 = v[0], v[1]
    if f64:
        k.adam_step_f64(<double*>r[0], <double*>r[2], <double*>r[3], <double*>r[4], <const double*>r[1], n, hp)
    else:
        k.adam_step_f32(<float*>r[0], <float*>r[2], <float*>r[3], <float*>r[4], <const float*>r[1], n, hp)


# ---------------------------------------------------------------- mini-batch gathering (cpp/gather.cpp)

def take_rows(const unsigned char[:, ::1] x,     # IN  rows × bytes per row
              const int64_t[::1] index,          # IN  n row numbers
              unsigned char[:, ::1] out):        # OUT n × bytes per row
    if out.shape[0] != index.shape[0] or out.shape[1] != x.shape[1]:
        raise ValueError(f"take_rows: out has shape ({out.shape[0]}, {out.shape[1]}) bytes, expected "
                         f"({index.shape[0]}, {x.shape[1]})")
    cdef int64_t n = index.shape[0], r
    if n == 0 or x.shape[1] == 0:
        return
    cdef const unsigned char* px = &x[0, 0] if x.shape[0] > 0 else NULL
    with nogil:
        r = k.take_rows(&out[0, 0], px, x.shape[0], x.shape[1], &index[0], n)
    if r >= 0:
        raise IndexError(f"take_rows: index {index[r]} at position {r} is out of bounds for {x.shape[0]} rows")


def first_out_of_range(const int64_t[::1] labels, int64_t n):
    """Position of the first label outside [0, n), or -1."""
    cdef Py_ssize_t i, m = labels.shape[0], bad = -1
    with nogil:
        for i in range(m):
            if labels[i] < 0 or labels[i] >= n:
                bad = i
                break
    return bad
