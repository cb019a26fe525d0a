// kernel_table.cpp: compiled once per ISA; the table of this ISA's kernel addresses.
#include "kernels.h"

namespace fastnn {
namespace FASTNN_ISA_NS {

FASTNN_KERNELS(FASTNN_DECLARE)

extern const KernelTable kTable;
const KernelTable kTable = {
#define STR2(x) #x
#define STR(x) STR2(x)
    STR(FASTNN_ISA_NS),
#define FASTNN_TABLE_ENTRY(ret, name, params, args) &name,
    FASTNN_KERNELS(FASTNN_TABLE_ENTRY)
#undef FASTNN_TABLE_ENTRY
};

}  // namespace FASTNN_ISA_NS
}  // namespace fastnn
