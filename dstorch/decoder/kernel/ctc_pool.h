/* Growable storage for the CTC kernel (ctc_kernel.c): label/timestep pools shared by
 * prefixes (each entry: value, parent) with garbage collection, and the open-addressing
 * cache of LM scores per n-gram hash. Included once, by ctc_kernel.c. */

typedef struct { int32_t (*e)[2]; int64_t size, cap, limit, min_collect; } Pool; /* value, parent */
typedef struct { uint64_t key; float val[2]; } Slot;  /* key 0: empty */
typedef struct { Slot *s; int64_t cap, used; } Cache;

static int pool_add(Pool *p, int32_t value, int32_t parent) {
  if (p->size == p->cap) {
    int64_t cap = p->cap ? 2 * p->cap : 4096;
    int32_t(*e)[2] = realloc(p->e, cap * sizeof *e);
    if (!e) return ERR_MEMORY;
    p->e = e, p->cap = cap;
  }
  p->e[p->size][0] = value, p->e[p->size][1] = parent;
  return (int32_t)p->size++;
}

/* Keep roots [n] and their ancestors, renumbered in order (parents stay before children). */
static int pool_collect(Pool *p, int32_t *roots, int32_t n) {
  uint8_t *live = calloc(p->size ? p->size : 1, 1);
  int32_t *id = malloc((p->size ? p->size : 1) * sizeof *id);
  if (!live || !id) { free(live); free(id); return ERR_MEMORY; }
  for (int32_t j = 0; j < n; j++)
    for (int32_t i = roots[j]; i >= 0 && !live[i]; i = p->e[i][1]) live[i] = 1;
  int32_t m = 0;
  for (int64_t i = 0; i < p->size; i++) {
    if (!live[i]) continue;
    int32_t up = p->e[i][1];
    p->e[m][0] = p->e[i][0], p->e[m][1] = up >= 0 ? id[up] : -1;
    id[i] = m++;
  }
  for (int32_t j = 0; j < n; j++) roots[j] = roots[j] >= 0 ? id[roots[j]] : -1;
  p->size = m;
  p->limit = 2 * m > p->min_collect ? 2 * m : p->min_collect;
  free(live), free(id);
  return 0;
}

static float *cache_find(Cache *c, uint64_t key, int insert) {
  int64_t i = (int64_t)(key & (uint64_t)(c->cap - 1));
  while (c->s[i].key && c->s[i].key != key) i = (i + 1) & (c->cap - 1);
  if (!c->s[i].key && !insert) return NULL;
  if (!c->s[i].key) c->s[i].key = key, c->used++;
  return c->s[i].val;
}

static int cache_grow(Cache *c) {
  int64_t cap = c->cap ? 2 * c->cap : 1024;
  Cache big = {calloc(cap, sizeof(Slot)), cap, 0};
  if (!big.s) return ERR_MEMORY;
  for (int64_t i = 0; i < c->cap; i++)
    if (c->s[i].key) memcpy(cache_find(&big, c->s[i].key, 1), c->s[i].val, sizeof c->s[i].val);
  free(c->s), *c = big;
  return 0;
}
