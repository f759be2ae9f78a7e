/* Prints what the system's linux/virtio_ring.h says, for test/layout.test.ts.
 *   vring size          -> "num align vring_size" for every power of two num
 *                          up to 32768 and a few alignments
 *   vring event < lines -> for each "event new old" line, vring_need_event()
 */
#include <linux/virtio_ring.h>
#include <stdio.h>
#include <string.h>

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "size") == 0) {
    static const unsigned long aligns[] = {4, 16, 64, 4096, 65536};
    for (unsigned a = 0; a < sizeof aligns / sizeof aligns[0]; a++)
      for (unsigned num = 1; num <= 32768; num *= 2)
        printf("%u %lu %u\n", num, aligns[a], vring_size(num, aligns[a]));
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "event") == 0) {
    unsigned e, n, o;
    while (scanf("%u %u %u", &e, &n, &o) == 3)
      printf("%d\n", vring_need_event((__u16)e, (__u16)n, (__u16)o) ? 1 : 0);
    return 0;
  }
  fprintf(stderr, "usage: vring size | vring event < triples\n");
  return 2;
}
