/* argv_echo.exe: print what this process received, as one JSON line on stdout:
 * {"cwd": "<current directory>", "argv": [<arguments after the program name>]}
 * with the arguments as the C runtime split them from the command line.
 * Characters outside printable ASCII are written as \uXXXX (UTF-16 units).
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -o argv_echo.exe argv_echo.c */
#include <stdio.h>
#include <windows.h>

static void put_json_string(const wchar_t *text)
{
    fputc('"', stdout);
    for (const wchar_t *c = text; *c; c++) {
        if (*c == L'"' || *c == L'\\')
            printf("\\%c", (char)*c);
        else if (*c >= 0x20 && *c < 0x7f)
            fputc((char)*c, stdout);
        else
            printf("\\u%04x", (unsigned)*c);
    }
    fputc('"', stdout);
}

int wmain(int argc, wchar_t **argv)
{
    static wchar_t cwd[32768];
    GetCurrentDirectoryW(32768, cwd);
    fputs("{\"cwd\": ", stdout);
    put_json_string(cwd);
    fputs(", \"argv\": [", stdout);
    for (int i = 1; i < argc; i++) {
        if (i > 1)
            fputs(", ", stdout);
        put_json_string(argv[i]);
    }
    fputs("]}\n", stdout);
    return 0;
}
