/* A static position-independent executable: prints where it was loaded
 * and its argv, and exits 3. */
#include <stdio.h>

int main(int argc, char **argv) {
    printf("main=%p", (void *)main);
    for (int i = 1; i < argc; i++)
        printf(" %s", argv[i]);
    printf("\n");
    return 3;
}
