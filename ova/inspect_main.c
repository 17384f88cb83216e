/* ova-inspect — validate image files as a copy into amifs' imports/ would.
 * Usage: ova-inspect [--json] FILE...   Exit 0 all accepted, 1 one or more
 * refused, 2 usage or unreadable file. */
#include <stdio.h>
#include <string.h>

#include "ova/ova.h"

int main(int argc, char **argv)
{
    bool json = false;
    int first = 1, worst = 0;
    if (argc > 1 && strcmp(argv[1], "--json") == 0) {
        json = true;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: ova-inspect [--json] FILE...\n");
        return 2;
    }
    for (int i = first; i < argc; i++) {
        int rc = ova_inspect_file(argv[i], stdout, json);
        if (rc < 0)
            worst = 2;
        else if (rc > 0 && worst == 0)
            worst = 1;
    }
    return worst;
}
