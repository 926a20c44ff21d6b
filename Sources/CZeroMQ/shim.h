#include <zmq.h>
#include <malloc.h>

/* glibc maps blocks above its mmap threshold (128 KB, then the size last freed) with mmap and
   gives freed memory above twice that back to the kernel at once, so every multi-megabyte
   frame received landed in fresh pages, faulted in and zeroed (FedSim's ipc path measured
   0.70-0.75 GB/s, 0.15-0.19x raw libzmq). Blocks up to 32 MB come from the heap, and up to
   64 MB of freed heap stays mapped for the next message. */
static inline void fedsim_keep_large_blocks_on_the_heap(void) {
    mallopt(M_MMAP_THRESHOLD, 32 << 20);
    mallopt(M_TRIM_THRESHOLD, 64 << 20);
}
