#ifndef BERTH_AGENT_STORAGE_SPARSE_COPY_H_
#define BERTH_AGENT_STORAGE_SPARSE_COPY_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace berth::agent {

// Copies the first `src_size` bytes of `src_fd` into the empty file `dst_fd` with pread/pwrite,
// visiting only the data ranges reported by SEEK_DATA/SEEK_HOLE and skipping all-zero blocks,
// so holes stay holes. The destination is sized to `dst_size` (>= src_size) and fsync'ed.
// Never uses copy_file_range, FICLONE or sendfile: the copy owns its own extents.
// `what` names the files in error messages.
absl::Status SparseCopy(int src_fd, uint64_t src_size, int dst_fd, uint64_t dst_size,
                        const std::string& what);

}  // namespace berth::agent

#endif  // BERTH_AGENT_STORAGE_SPARSE_COPY_H_
