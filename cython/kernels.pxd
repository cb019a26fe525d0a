# Declarations of the C++ kernel API (cpp/kernels.h, cpp/gemm/gemm.h). No logic here.
from libc.stdint cimport int64_t, uint64_t
from libcpp cimport bool


cdef extern from "activation.h" namespace "fastnn":
    cdef struct ActParams:
        double p0
        double p1


cdef extern from "gemm/gemm.h" namespace "fastnn":
    cdef cppclass GemmArgs[T]:
        int64_t M, N, K
        const T* A
        int64_t lda
        bool trans_a
        const T* B
        int64_t ldb
        bool trans_b
        T* C
        int64_t ldc
        T alpha
        T beta
        const T* bias
        int act
        ActParams act_params


cdef extern from "threading.h" namespace "fastnn":
    int num_threads()
    void set_num_threads(int n)


cdef extern from "kernels.h" namespace "fastnn":
    int select_isa(const char* name)
    const char* current_isa()
    const char* supported_isas()
    int avx512_emulated()
    const char* openmp_runtime()
    ctypedef void (*RowUpdate)(void* const* row, int64_t n, int f64, const void* hyper,
                               const double* values) noexcept nogil
    bool update_rows(void* const* ptrs, int width, const int64_t* sizes, const char* f64, int64_t rows,
                     RowUpdate update, const void* hyper, const double* values, int values_per_row,
                     int check) nogil

    void gemm_f32(const GemmArgs[float]& g) nogil
    void gemm_f64(const GemmArgs[double]& g) nogil
    void gemm_ref_f32(const GemmArgs[float]& g) nogil
    void gemm_ref_f64(const GemmArgs[double]& g) nogil
    void gemm_tile_f32(int* mr, int* nr)
    void gemm_tile_f64(int* mr, int* nr)
    void bias_grad_f32(float* db, const float* dy, int64_t rows, int64_t cols) nogil
    void bias_grad_f64(double* db, const double* dy, int64_t rows, int64_t cols) nogil
    int64_t take_rows(unsigned char* out, const unsigned char* x, int64_t x_rows, int64_t row_bytes,
                      const int64_t* index, int64_t n) nogil
    void act_forward_f32(float* y, const float* x, int64_t n, int act, const ActParams& p) nogil
    void act_forward_f64(double* y, const double* x, int64_t n, int act, const ActParams& p) nogil
    void act_backward_f32(float* dx, const float* dy, const float* x, const float* y, int64_t n, int act,
                          const ActParams& p) nogil
    void act_backward_f64(double* dx, const double* dy, const double* x, const double* y, int64_t n, int act,
                          const ActParams& p) nogil
    void dropout_forward_f32(float* y, const float* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) nogil
    void dropout_backward_f32(float* dx, const float* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) nogil
    void rrelu_slopes_f32(float* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream) nogil
    void dropout_forward_f64(double* y, const double* x, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) nogil
    void dropout_backward_f64(double* dx, const double* dy, int64_t n, uint64_t seed, uint64_t stream, uint64_t keep32, double scale) nogil
    void rrelu_slopes_f64(double* out, int64_t n, double lower, double upper, uint64_t seed, uint64_t stream) nogil
    void batchnorm_forward_f32(float* y, float* mean, float* invstd, const float* x, const float* gamma, const float* beta,
                              int64_t B, int64_t F, double eps, float* running_mean, float* running_var,
                              double momentum, const BnPost& post) nogil
    void batchnorm_inference_f32(float* y, const float* x, const float* mean, const float* var, const float* gamma,
                                const float* beta, int64_t B, int64_t F, double eps) nogil
    void batchnorm_backward_f32(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                               const float* invstd, const float* gamma, int64_t B, int64_t F, const float* post_y,
                               double post_scale) nogil
    void layernorm_forward_f32(float* y, float* mean, float* invstd, const float* x, const float* gamma, const float* beta,
                              int64_t B, int64_t F, double eps) nogil
    void layernorm_backward_f32(float* dx, float* dgamma, float* dbeta, const float* dy, const float* x, const float* mean,
                               const float* invstd, const float* gamma, int64_t B, int64_t F) nogil
    void batchnorm_forward_f64(double* y, double* mean, double* invstd, const double* x, const double* gamma, const double* beta,
                              int64_t B, int64_t F, double eps, double* running_mean, double* running_var,
                              double momentum, const BnPost& post) nogil
    void batchnorm_inference_f64(double* y, const double* x, const double* mean, const double* var, const double* gamma,
                                const double* beta, int64_t B, int64_t F, double eps) nogil
    void batchnorm_backward_f64(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x, const double* mean,
                               const double* invstd, const double* gamma, int64_t B, int64_t F, const double* post_y,
                               double post_scale) nogil
    void layernorm_forward_f64(double* y, double* mean, double* invstd, const double* x, const double* gamma, const double* beta,
                              int64_t B, int64_t F, double eps) nogil
    void layernorm_backward_f64(double* dx, double* dgamma, double* dbeta, const double* dy, const double* x, const double* mean,
                               const double* invstd, const double* gamma, int64_t B, int64_t F) nogil
    double softmax_cross_entropy_labels_f32(float* grad, const float* logits, const int64_t* labels, int64_t B, int64_t C,
                                            double label_smoothing, int mean) nogil
    double softmax_cross_entropy_probs_f32(float* grad, const float* logits, const float* probs, int64_t B, int64_t C,
                                           double label_smoothing, int mean) nogil
    double mse_loss_f32(float* grad, const float* pred, const float* target, int64_t n, int mean) nogil
    double bce_with_logits_f32(float* grad, const float* pred, const float* target, int64_t n, int mean) nogil
    double huber_loss_f32(float* grad, const float* pred, const float* target, int64_t n, double delta, int mean) nogil
    double softmax_cross_entropy_labels_f64(double* grad, const double* logits, const int64_t* labels, int64_t B, int64_t C,
                                            double label_smoothing, int mean) nogil
    double softmax_cross_entropy_probs_f64(double* grad, const double* logits, const double* probs, int64_t B, int64_t C,
                                           double label_smoothing, int mean) nogil
    double mse_loss_f64(double* grad, const double* pred, const double* target, int64_t n, int mean) nogil
    double bce_with_logits_f64(double* grad, const double* pred, const double* target, int64_t n, int mean) nogil
    double huber_loss_f64(double* grad, const double* pred, const double* target, int64_t n, double delta, int mean) nogil


cdef extern from "norm.h" namespace "fastnn":
    cdef struct BnPost:
        int relu, dropout
        uint64_t seed, stream, keep32
        double scale


cdef extern from "optim.h" namespace "fastnn":
    cdef struct SgdHyper:
        double lr, momentum, dampening, weight_decay
        bool nesterov, init_buffer
    cdef struct AdagradHyper:
        double clr, weight_decay, eps
    cdef struct AdadeltaHyper:
        double lr, rho, eps, weight_decay
    cdef struct RmspropHyper:
        double lr, alpha, eps, weight_decay, momentum
    cdef struct AdamHyper:
        double lr, beta1, beta2, eps, weight_decay
        bool decoupled
        double bias_correction1, bias_correction2


cdef extern from "kernels.h" namespace "fastnn":
    void sgd_step_f32(float* p, float* buf, const float* g, int64_t n, const SgdHyper& h) nogil
    void sgd_step_f64(double* p, double* buf, const double* g, int64_t n, const SgdHyper& h) nogil
    void adagrad_step_f32(float* p, float* sum, const float* g, int64_t n, const AdagradHyper& h) nogil
    void adagrad_step_f64(double* p, double* sum, const double* g, int64_t n, const AdagradHyper& h) nogil
    void adadelta_step_f32(float* p, float* sq, float* acc, const float* g, int64_t n, const AdadeltaHyper& h) nogil
    void adadelta_step_f64(double* p, double* sq, double* acc, const double* g, int64_t n, const AdadeltaHyper& h) nogil
    void rmsprop_step_f32(float* p, float* sq, float* gavg, float* buf, const float* g, int64_t n, const RmspropHyper& h) nogil
    void rmsprop_step_f64(double* p, double* sq, double* gavg, double* buf, const double* g, int64_t n, const RmspropHyper& h) nogil
    void adam_step_f32(float* p, float* m1, float* m2, float* m2max, const float* g, int64_t n, const AdamHyper& h) nogil
    void adam_step_f64(double* p, double* m1, double* m2, double* m2max, const double* g, int64_t n, const AdamHyper& h) nogil
    double sum_squares_f32(const float* const* bufs, const int64_t* sizes, int64_t count) nogil
    double sum_squares_f64(const double* const* bufs, const int64_t* sizes, int64_t count) nogil
    double max_abs_f32(const float* const* bufs, const int64_t* sizes, int64_t count) nogil
    double nonfinite_probe_f32(const float* const* bufs, const int64_t* sizes, int64_t count) nogil
    double max_abs_f64(const double* const* bufs, const int64_t* sizes, int64_t count) nogil
    double nonfinite_probe_f64(const double* const* bufs, const int64_t* sizes, int64_t count) nogil
    void scale_inplace_f32(float* x, int64_t n, double alpha) nogil
    void scale_inplace_f64(double* x, int64_t n, double alpha) nogil
    void clamp_inplace_f32(float* x, int64_t n, double lo, double hi) nogil
    void clamp_inplace_f64(double* x, int64_t n, double lo, double hi) nogil
    void renorm_rows_f32(float* w, int64_t rows, int64_t cols, double max_norm) nogil
    void renorm_rows_f64(double* w, int64_t rows, int64_t cols, double max_norm) nogil
    double l1_penalty_grad_f32(float* grad, const float* w, int64_t n, double strength) nogil
    double l1_penalty_grad_f64(double* grad, const double* w, int64_t n, double strength) nogil
    double l2_penalty_grad_f32(float* grad, const float* w, int64_t n, double strength) nogil
    double l2_penalty_grad_f64(double* grad, const double* w, int64_t n, double strength) nogil
