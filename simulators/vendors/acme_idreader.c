/*
 * libacme_idr: a simulated vendor SDK for a second-generation ID card reader.
 *
 * It imitates the shape of the SDKs installed kiosks use (the termb / CVR family:
 * InitComm(port) -> 1, Authenticate() -> 1 when a card is found, Read_Content(active)
 * writing wz.txt and zp.bmp into the current directory, GBK getters that fill a
 * caller's buffer and its length; see docs/bridges.md for the public sources).
 * Nothing here talks to hardware: the "card on the reader" and the faults live in a
 * state folder named by the ACME_IDR_STATE environment variable, written by
 * gtsdk.simulators.vendors.acme_idreader:
 *
 *   card.txt   the card's 256-byte UCS-2 text block (GA 467 layout); absent: no card
 *   card.wlt   the card's 1024-byte WLT photo block
 *   card.bmp   the decoded photo the vendor's licensed decoder would produce
 *   unplugged  present: the reader has vanished
 *   fault      "crash <Function>" or "hang <Function>": one-shot (removed when it fires)
 *   delay_ms   milliseconds every call takes
 *
 * Return codes (the vendor's own): 1 success; 0 no card / nothing read;
 * -1 port not open; -2 device lost; -3 call Authenticate first; -4 cannot write
 * the output files; -5 buffer too small.
 */
#include <errno.h>
#include <iconv.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define TEXT_LEN 256
#define WLT_LEN 1024
#define BMP_MAX (256 * 1024)

static int g_port = 0;          /* open port, 0 when closed */
static int g_authenticated = 0; /* a card was found since the last InitComm */
static int g_have_content = 0;  /* Read_Content/ReadBaseMsg succeeded */
static unsigned char g_text[TEXT_LEN];
static unsigned char g_wlt[WLT_LEN];

static const char *state_dir(void) {
    const char *d = getenv("ACME_IDR_STATE");
    return d ? d : ".";
}

static int state_path(char *out, size_t n, const char *name) {
    return snprintf(out, n, "%s/%s", state_dir(), name) < (int)n;
}

static int state_exists(const char *name) {
    char p[4096];
    return state_path(p, sizeof p, name) && access(p, F_OK) == 0;
}

static long read_state(const char *name, unsigned char *buf, long max) {
    char p[4096];
    FILE *f;
    long n;
    if (!state_path(p, sizeof p, name) || !(f = fopen(p, "rb"))) return -1;
    n = (long)fread(buf, 1, (size_t)max, f);
    fclose(f);
    return n;
}

/* Every exported call passes here first: delay, one-shot crash or hang. */
static void enter(const char *fn) {
    char p[4096], line[128] = {0}, kind[16] = {0}, target[96] = {0};
    unsigned char ms[16] = {0};
    FILE *f;
    if (read_state("delay_ms", ms, sizeof ms - 1) > 0) {
        long d = strtol((const char *)ms, NULL, 10);
        if (d > 0) {
            struct timespec ts = {d / 1000, (d % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    if (!state_path(p, sizeof p, "fault") || !(f = fopen(p, "r"))) return;
    if (!fgets(line, sizeof line, f)) line[0] = 0;
    fclose(f);
    if (sscanf(line, "%15s %95s", kind, target) != 2 || strcmp(target, fn) != 0) return;
    unlink(p); /* one-shot: the fault fires once */
    if (strcmp(kind, "crash") == 0) {
        volatile int *nowhere = NULL;
        *nowhere = 42; /* SIGSEGV, as a buggy vendor library would */
        raise(SIGSEGV);
    }
    if (strcmp(kind, "hang") == 0) {
        for (;;) pause(); /* never returns; only SIGKILL ends it */
    }
}

static int device_lost(void) { return state_exists("unplugged"); }

int InitComm(int port) {
    enter("InitComm");
    if (device_lost()) return -1;
    if (!((port >= 1 && port <= 16) || (port >= 1001 && port <= 1016))) return -1;
    g_port = port;
    g_authenticated = g_have_content = 0;
    return 1;
}

int CloseComm(void) {
    enter("CloseComm");
    g_port = 0;
    g_authenticated = g_have_content = 0;
    return 1;
}

int Authenticate(void) {
    enter("Authenticate");
    if (!g_port) return -1;
    if (device_lost()) return -2;
    if (!state_exists("card.txt")) {
        g_authenticated = g_have_content = 0;
        return 0;
    }
    g_authenticated = 1;
    return 1;
}

static int load_card(void) {
    if (read_state("card.txt", g_text, TEXT_LEN) != TEXT_LEN) return 0;
    if (read_state("card.wlt", g_wlt, WLT_LEN) != WLT_LEN) memset(g_wlt, 0, WLT_LEN);
    g_have_content = 1;
    return 1;
}

/* UCS-2 slice -> GB18030, trailing spaces removed; returns bytes written (without the NUL) */
static int to_gb18030(const unsigned char *ucs2, size_t len, char *out, size_t outlen) {
    iconv_t cd = iconv_open("GB18030", "UTF-16LE");
    char *in = (char *)ucs2, *o = out;
    size_t inl = len, outl = outlen - 1;
    int n;
    if (cd == (iconv_t)-1) return -1;
    if (iconv(cd, &in, &inl, &o, &outl) == (size_t)-1) {
        iconv_close(cd);
        return -1;
    }
    iconv_close(cd);
    n = (int)(o - out);
    while (n > 0 && (out[n - 1] == ' ' || out[n - 1] == 0)) n--;
    out[n] = 0;
    return n;
}

/* text-block slices (byte offset, length) of a resident card, GA 467 layout */
static const int SLICES[][2] = {{0, 30}, {30, 2}, {32, 4}, {36, 16}, {52, 70}, {122, 36}, {158, 30}, {188, 16},
                                {204, 16}};
enum { F_NAME, F_SEX, F_NATION, F_BIRTH, F_ADDRESS, F_ID, F_ISSUER, F_FROM, F_UNTIL, F_COUNT };

/* GB18030 bytes of 未知, 男, 女 (the source file itself is UTF-8) */
static const char *SEX_NAMES[] = {"\xce\xb4\xd6\xaa", "\xc4\xd0", "\xc5\xae"};

static int write_file(const char *dir, const char *name, const void *data, size_t n) {
    char p[4096];
    FILE *f;
    if (snprintf(p, sizeof p, "%s/%s", dir, name) >= (int)sizeof p) return 0;
    if (!(f = fopen(p, "wb"))) return 0;
    if (fwrite(data, 1, n, f) != n) {
        fclose(f);
        return 0;
    }
    return fclose(f) == 0;
}

/* wz.txt: one field per line in GB18030 (name, sex, nation code, birth, address, id, issuer, from, until) */
static int write_outputs(const char *dir, int active) {
    static unsigned char bmp[BMP_MAX];
    char lines[1024], field[256];
    size_t used = 0;
    long nbmp;
    int i;
    for (i = 0; i < F_COUNT; i++) {
        int n = to_gb18030(g_text + SLICES[i][0], (size_t)SLICES[i][1], field, sizeof field);
        if (n < 0) return 0;
        if (i == F_SEX) {
            int code = field[0] - '0';
            n = snprintf(field, sizeof field, "%s", SEX_NAMES[(code >= 0 && code <= 2) ? code : 0]);
        }
        if (used + (size_t)n + 2 >= sizeof lines) return 0;
        memcpy(lines + used, field, (size_t)n);
        used += (size_t)n;
        lines[used++] = '\r';
        lines[used++] = '\n';
    }
    if (active == 1 && !write_file(dir, "wz.txt", g_text, TEXT_LEN)) return 0; /* raw UCS-2, termb style */
    if (active != 1 && !write_file(dir, "wz.txt", lines, used)) return 0;
    if (!write_file(dir, "xp.wlt", g_wlt, WLT_LEN)) return 0;
    nbmp = read_state("card.bmp", bmp, BMP_MAX);
    if (nbmp > 0 && !write_file(dir, "zp.bmp", bmp, (size_t)nbmp)) return 0;
    return 1;
}

static int read_content(const char *dir, int active) {
    if (!g_port) return -1;
    if (device_lost()) return -2;
    if (!g_authenticated) return -3;
    if (!state_exists("card.txt")) {
        g_authenticated = 0;
        return 0; /* the card was taken away */
    }
    if (!load_card()) return 0;
    return write_outputs(dir, active) ? 1 : -4;
}

int Read_Content(int active) {
    enter("Read_Content");
    return read_content(".", active);
}

int Read_Content_Path(const char *path, int active) {
    enter("Read_Content_Path");
    if (!path || !*path) return -4;
    return read_content(path, active);
}

/* 新中新-style: the raw blocks into the caller's buffers, their lengths through pointers */
int ReadBaseMsg(unsigned char *text, int *text_len, unsigned char *wlt, int *wlt_len) {
    int rc;
    enter("ReadBaseMsg");
    if (!g_port) return -1;
    if (device_lost()) return -2;
    if (!g_authenticated) return -3;
    if (!state_exists("card.txt") || !load_card()) return 0;
    if (!text_len || !wlt_len || *text_len < TEXT_LEN || *wlt_len < WLT_LEN) return -5;
    memcpy(text, g_text, TEXT_LEN);
    memcpy(wlt, g_wlt, WLT_LEN);
    *text_len = TEXT_LEN;
    *wlt_len = WLT_LEN;
    rc = 1;
    return rc;
}

static int getter(int field, char *buf, int *len) {
    char tmp[256];
    int n;
    if (!g_have_content) return 0;
    if (!buf || !len) return -5;
    n = to_gb18030(g_text + SLICES[field][0], (size_t)SLICES[field][1], tmp, sizeof tmp);
    if (n < 0) return 0;
    if (field == F_SEX) n = snprintf(tmp, sizeof tmp, "%s", SEX_NAMES[(tmp[0] >= '0' && tmp[0] <= '2') ? tmp[0] - '0' : 0]);
    if (n + 1 > *len) return -5;
    memcpy(buf, tmp, (size_t)n + 1);
    *len = n;
    return 1;
}

int GetPeopleName(char *buf, int *len) { enter("GetPeopleName"); return getter(F_NAME, buf, len); }
int GetPeopleSex(char *buf, int *len) { enter("GetPeopleSex"); return getter(F_SEX, buf, len); }
int GetPeopleIDCode(char *buf, int *len) { enter("GetPeopleIDCode"); return getter(F_ID, buf, len); }

char *GetSAMID(void) {
    static char sam[] = "05.01-20240101-0000012345-1122334455";
    enter("GetSAMID");
    return g_port ? sam : NULL;
}
