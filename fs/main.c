#include <stdio.h>
int main(void)
{
    puts("amifs: not built yet");
    return 1;
}
