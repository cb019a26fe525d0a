# Declarations of the C++ kernel API (cpp/kernels.h, cpp/gemm/gemm.h). No logic here.
from libc.stdint cimport int64_t
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
    const char* openmp_runtime()

    void gemm_f32(const GemmArgs[float]& g) nogil
    void gemm_f64(const GemmArgs[double]& g) nogil
    void gemm_ref_f32(const GemmArgs[float]& g) nogil
    void gemm_ref_f64(const GemmArgs[double]& g) nogil
    void gemm_tile_f32(int* mr, int* nr)
    void gemm_tile_f64(int* mr, int* nr)
    void bias_grad_f32(float* db, const float* dy, int64_t rows, int64_t cols) nogil
    void bias_grad_f64(double* db, const double* dy, int64_t rows, int64_t cols) nogil
