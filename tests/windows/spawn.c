/* spawn.exe FILE: read UTF-8 command lines from FILE, one per line, and start
 * each in turn with CreateProcessW exactly as written (nothing re-quoted),
 * inheriting this process's standard handles. After each child ends, print
 * a line "@@exit N@@" with its exit code. The lines come from a file because
 * wine's own argv would re-quote them.
 * Build: x86_64-w64-mingw32-gcc -municode -O2 -o spawn.exe spawn.c */
#include <stdio.h>
#include <string.h>
#include <windows.h>

static char utf8[1 << 20];
static wchar_t line[1 << 16];

int wmain(int argc, wchar_t **argv)
{
    if (argc != 2) {
        fputs("usage: spawn.exe FILE\n", stderr);
        return 120;
    }
    FILE *file = _wfopen(argv[1], L"rb");
    if (file == NULL) {
        fputs("spawn.exe: cannot open the command-line file\n", stderr);
        return 121;
    }
    size_t size = fread(utf8, 1, sizeof utf8 - 1, file);
    fclose(file);
    utf8[size] = '\0';
    for (char *next, *text = utf8; *text; text = next) {
        next = strchr(text, '\n');
        if (next != NULL)
            *next++ = '\0';
        else
            next = text + strlen(text);
        if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, text, -1, line, 1 << 16) == 0) {
            fputs("spawn.exe: a command line is not valid UTF-8 or too long\n", stderr);
            return 122;
        }
        STARTUPINFOW startup = {.cb = sizeof startup};
        PROCESS_INFORMATION process;
        DWORD code = 123;
        if (CreateProcessW(NULL, line, NULL, NULL, TRUE, 0, NULL, NULL, &startup, &process)) {
            WaitForSingleObject(process.hProcess, INFINITE);
            GetExitCodeProcess(process.hProcess, &code);
            CloseHandle(process.hThread);
            CloseHandle(process.hProcess);
        }
        printf("\n@@exit %lu@@\n", code);
        fflush(stdout);
    }
    return 0;
}
