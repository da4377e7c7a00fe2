/* CTC prefix beam search in C, one time step per loop turn (loaded by decoder/native.py).
 *
 * Same arithmetic as dstorch/decoder/reference.py (float32 scores in DeepSpeech 0.9.3's
 * operation order, exp/log in double rounded to float), same tie-breaking: the new beam
 * is the best `width` of (prefixes, new extensions) by (score desc, label asc, position asc),
 * the position of extension (r, k) being n + r * K + k. Prefixes are found by a 64-bit hash
 * of their label string instead of trie nodes, which is all the client's trie does: find
 * "prefix + c" among the prefixes. Labels and timesteps live in two parent-pointer pools
 * that are garbage-collected, so memory stays bounded on long streams. LM scores come
 * from a Python callback, cached by n-gram in a cache the caller owns and may share
 * between searches (dk_cache_new). Built at install time by build.py beside this file,
 * with -ffp-contract=off: a fused multiply-add would change float results.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define NEG_INF (-INFINITY)
#define ERR_MEMORY (-1)
#define ERR_CALLBACK (-2)
#define CACHE_MAX (1 << 20)  /* n-grams a cache holds before it starts over (16 MiB) */

#include "ctc_pool.h"

/* labels [n] of the n-gram, words split by the space label -> out: alpha * (LM + hot
 * boost) for a closing space, alpha * LM for the unfinished last word. 0: ok. */
typedef int (*lm_fn)(const int32_t *labels, int32_t n, float *out);

typedef struct {  /* the beam, structure of arrays [width] */
  float *score, *b, *nb, *lms, *lme;  /* lms/lme: LM terms (space / end), NaN: unknown */
  int32_t *chr, *tok, *ts, *state;    /* last label (-1: empty), pool ids, FST state */
  uint64_t *key, *pkey;               /* hash of the labels, hash without the last one */
} Rows;

typedef struct { float s; int32_t nx; } Cand;  /* a candidate's score and FST state */
/* Candidates order by key (hi, lo) ascending: hi is the score's bits, descending; lo =
 * (label + 1) << pos_bits | position. i: where the Cand is. */
typedef struct { uint64_t lo; uint32_t hi, i; } Key;

typedef struct {
  int32_t width, n_classes, blank, space, order, root_state, has_lm;
  double beta;
  const int32_t *table;     /* [states, blank + 2] next state by FST label (class + 1) */
  const int64_t *arc_start; /* [states + 1] into arc_class: the classes with an arc */
  const int32_t *arc_class;
  const uint8_t *finals;
  lm_fn lm;
  int32_t n;  /* prefixes in cur */
  Rows cur, nxt;
  Pool tokens, steps;
  Cache *cache;  /* the caller's, set by dk_run / dk_final */
  int32_t *pi, *kc, *new_ts, *class_pos, *slots, *labels;  /* scratch */
  float *bcur, *new_nb, *new_score;
  uint8_t *consumed;
  Cand *cand;
  Key *heap, *keys;  /* the worst candidate on top; scratch for the sort */
  int64_t n_slots, labels_cap;
  int32_t pos_bits, lo_bytes;
  const float *lp;  /* this step: log probs [k] of classes cidx [k], the blank's column */
  const int32_t *cidx;
  int32_t k, kb, has_cutoff, err;
  float cutoff;
} Decoder;

static float lse(float x, float y) {  /* base.log_sum_exp */
  if (x == NEG_INF) return y;
  if (y == NEG_INF) return x;
  float m = x > y ? x : y;
  float ex = (float)exp((double)(x - m)), ey = (float)exp((double)(y - m));
  return (float)log((double)(ex + ey)) + m;
}

/* Hash of "prefix + label" from the prefix's: splitmix64's finaliser over a multiply-add.
 * Two different label strings in one beam collide with probability ~1e-16 per step. */
static uint64_t mix(uint64_t key, int32_t label) {
  uint64_t h = key * 0x9E3779B97F4A7C15ULL + (uint64_t)(int64_t)label + 1;
  h ^= h >> 31;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 29);
}

/* The up to `order` words ending at prefix r (labels back to the order-th space). */
static int32_t ngram_labels(Decoder *d, int32_t r) {
  int32_t n = 0, spaces = 0, (*e)[2] = d->tokens.e;
  for (int32_t i = d->cur.tok[r]; i >= 0; i = e[i][1], n++)
    if (e[i][0] == d->space && ++spaces == d->order) break;
  if (n > d->labels_cap) {
    int32_t *l = realloc(d->labels, 2 * n * sizeof *l);
    if (!l) return ERR_MEMORY;
    d->labels = l, d->labels_cap = 2 * n;
  }
  for (int32_t i = d->cur.tok[r], j = n; j > 0; i = e[i][1]) d->labels[--j] = e[i][0];
  return n;
}

/* Fill the LM terms of prefix r; 0 or an error. */
static int lm_terms(Decoder *d, int32_t r) {
  if (!isnan(d->cur.lms[r])) return 0;
  int32_t n = ngram_labels(d, r);
  if (n < 0) return n;
  uint64_t h = 0x51ED270B27ULL;
  for (int32_t i = 0; i < n; i++) h = mix(h, d->labels[i]);
  h = mix(h, n) | 1;  /* 0 marks an empty cache slot */
  Cache *c = d->cache;
  float *v = c->cap ? cache_find(c, h, 0) : NULL;
  if (!v) {
    float out[2];
    if (d->lm(d->labels, n, out)) return ERR_CALLBACK;
    if (c->used >= CACHE_MAX) memset(c->s, 0, c->cap * sizeof *c->s), c->used = 0;
    if (2 * (c->used + 1) > c->cap && cache_grow(c)) return ERR_MEMORY;
    v = cache_find(c, h, 1);
    v[0] = out[0], v[1] = out[1];
  }
  d->cur.lms[r] = v[0], d->cur.lme[r] = v[1];
  return 0;
}

/* Does the client visit (prefix r, column k)? (min-cutoff pruning with a scorer) */
static inline int visits(const Decoder *d, int32_t r, int32_t k) {
  float s = d->cur.score[r];
  return s > NEG_INF && (!d->has_cutoff || d->lp[k] + s >= d->cutoff);
}

/* Score of prefix r + class cidx[k] (-inf: no such prefix), its FST state in *nx. */
static float extend(Decoder *d, int32_t r, int32_t k, int32_t *nx) {
  int32_t c = d->cidx[k];
  if (c == d->blank || !visits(d, r, k)) return NEG_INF;
  if (d->has_lm) {
    *nx = d->table[(int64_t)d->cur.state[r] * (d->blank + 2) + c + 1];
    if (*nx < 0) return NEG_INF;  /* outside the vocabulary trie */
  }
  /* Repeating the last label only extends paths that ended in a blank. */
  float v = d->lp[k] + (d->cur.chr[r] == c ? d->cur.b[r] : d->cur.score[r]);
  if (d->has_lm && c == d->space && v > NEG_INF) {  /* a word is complete */
    int err = lm_terms(d, r);
    if (err) { d->err = err; return NEG_INF; }
    v = (float)((double)(v + d->cur.lms[r]) + d->beta);
  }
  return v;
}

/* pi[r]: row of prefix r's parent (-1: not in the beam), via an open-addressing table. */
static void link_parents(Decoder *d) {
  int64_t mask = d->n_slots - 1;
  memset(d->slots, -1, d->n_slots * sizeof *d->slots);
  for (int32_t r = 0; r < d->n; r++) {
    int64_t i = (int64_t)(d->cur.key[r] & (uint64_t)mask);
    while (d->slots[i] >= 0) i = (i + 1) & mask;
    d->slots[i] = r;
  }
  for (int32_t r = 0; r < d->n; r++) {
    uint64_t want = d->cur.pkey[r];
    int64_t i = (int64_t)(want & (uint64_t)mask);
    while (d->slots[i] >= 0 && d->cur.key[d->slots[i]] != want) i = (i + 1) & mask;
    d->pi[r] = d->slots[i];
  }
}

/* reference._merge: blanks, repeats and extensions into prefixes in the beam. */
static int merge(Decoder *d, int32_t t) {
  memset(d->consumed, 0, (size_t)d->n * d->k);
  for (int32_t r = 0; r < d->n; r++) {
    int32_t ch = d->cur.chr[r], pi = d->pi[r], nx = 0;
    int32_t kc = d->kc[r] = ch >= 0 ? d->class_pos[ch] : -1;
    float s = d->cur.score[r];
    float bc = d->kb >= 0 && visits(d, r, d->kb) ? s + d->lp[d->kb] : NEG_INF;
    float rep = kc >= 0 && visits(d, r, kc) ? d->cur.nb[r] + d->lp[kc] : NEG_INF;
    float e = NEG_INF;
    if (pi >= 0 && kc >= 0) {
      e = extend(d, pi, kc, &nx);
      d->consumed[(int64_t)pi * d->k + kc] = 1;
    }
    float nb = lse(e, rep);
    /* Timesteps: the extension wins when it beats what the prefix had before it in the
     * client's loop (the parent comes first when pi < r), unless the blank beats all. */
    int rec = pi < r ? (e > NEG_INF && !(e < rep)) : (rep < e);
    if (d->kb > kc && nb < bc) rec = 0;
    d->new_ts[r] = d->cur.ts[r];
    if (rec && (d->new_ts[r] = pool_add(&d->steps, t, d->cur.ts[pi])) < 0) return ERR_MEMORY;
    d->bcur[r] = bc, d->new_nb[r] = nb, d->new_score[r] = lse(bc, nb);
  }
  return d->err;
}

static Key make_key(const Decoder *d, float s, int32_t c, int64_t pos) {
  uint32_t u;
  s = s == 0.0f ? 0.0f : s;  /* -0 ties with +0 */
  memcpy(&u, &s, sizeof u);
  u = u & 0x80000000u ? u : ~(u | 0x80000000u);  /* descending with the float */
  return (Key){(uint64_t)(c + 1) << d->pos_bits | (uint64_t)pos, u, 0};
}

static inline int worse(const Key *a, const Key *b) {  /* a sorts after b */
  return a->hi != b->hi ? a->hi > b->hi : a->lo > b->lo;
}

static void sift_down(Key *h, int32_t n, int32_t i) {  /* heap: the worst on top */
  for (;;) {
    int32_t w = i, l = 2 * i + 1;
    if (l < n && worse(&h[l], &h[w])) w = l;
    if (l + 1 < n && worse(&h[l + 1], &h[w])) w = l + 1;
    if (w == i) return;
    Key tmp = h[i];
    h[i] = h[w], h[w] = tmp;
    i = w;
  }
}

/* Keep the best `width` candidates; one pushed out leaves its Cand slot to the new one. */
static void offer(Decoder *d, int32_t *m, float s, int32_t c, int32_t nx, int64_t pos) {
  Key key = make_key(d, s, c, pos);
  if (*m < d->width) {
    int32_t i = (*m)++;
    for (key.i = (uint32_t)i; i > 0 && worse(&key, &d->heap[(i - 1) / 2]); i = (i - 1) / 2)
      d->heap[i] = d->heap[(i - 1) / 2];
    d->heap[i] = key;
  } else if (worse(&d->heap[0], &key)) {
    key.i = d->heap[0].i, d->heap[0] = key;
    sift_down(d->heap, *m, 0);
  } else {
    return;
  }
  d->cand[key.i] = (Cand){s, nx};
}

static inline float worst_kept(const Decoder *d) { return d->cand[d->heap[0].i].s; }

/* New extension (r, k) as a candidate, unless it cannot make the beam. */
static void offer_extension(Decoder *d, int32_t *m, int32_t r, int32_t k) {
  int32_t nx = 0, c = d->cidx[k];
  /* An extension scores at most lp + score (no LM term): below the worst kept, skip. */
  if (*m == d->width && (!d->has_lm || c != d->space) &&
      d->lp[k] + d->cur.score[r] < worst_kept(d))
    return;
  if (d->consumed[(int64_t)r * d->k + k]) return;  /* merged into a prefix in the beam */
  float v = extend(d, r, k, &nx);
  if (v > NEG_INF) offer(d, m, v, c, nx, (int64_t)d->n + (int64_t)r * d->k + k);
}

/* Without a vocabulary every (prefix, class): the likeliest classes first, the beam in
 * its order (scores descending), so that past the first extension below the worst kept
 * candidate the rest of the class cannot make the beam either (no LM term here). */
static void offer_all(Decoder *d, int32_t *m) {
  int32_t *by_lp = d->kc + d->width;  /* columns by lp, descending (insertion sort) */
  for (int32_t i = 0; i < d->k; i++) {
    int32_t j = i;
    for (; j > 0 && d->lp[by_lp[j - 1]] < d->lp[i]; j--) by_lp[j] = by_lp[j - 1];
    by_lp[j] = i;
  }
  for (int32_t i = 0; i < d->k; i++) {
    int32_t k = by_lp[i];
    for (int32_t r = 0; r < d->n && d->cur.score[r] > NEG_INF; r++) {
      if (*m == d->width && d->lp[k] + d->cur.score[r] < worst_kept(d)) break;
      offer_extension(d, m, r, k);
    }
  }
}

/* Byte dg of a key, least significant first: lo's bytes, then hi's. */
static inline uint32_t digit(const Key *k, int dg) {
  return (uint32_t)((dg < 8 ? k->lo >> (8 * dg) : (uint64_t)k->hi >> (8 * (dg - 8))) & 255);
}

/* heap[0, m) best first, by a stable least-significant-digit radix sort over the bytes
 * of the keys that vary; returns where the sorted keys are (heap or keys). */
static Key *sort_best_first(Decoder *d, int32_t m) {
  Key *a = d->heap, *b = d->keys, *t;
  for (int dg = 0; dg < 12 && m > 0; dg++) {
    if (dg >= d->lo_bytes && dg < 8) continue;  /* bytes of lo that are always 0 */
    int32_t count[257] = {0};
    for (int32_t j = 0; j < m; j++) count[digit(&a[j], dg) + 1]++;
    if (count[digit(&a[0], dg) + 1] == m) continue;  /* all alike: order kept */
    for (int i = 1; i < 257; i++) count[i] += count[i - 1];
    for (int32_t j = 0; j < m; j++) b[count[digit(&a[j], dg)]++] = a[j];
    t = a, a = b, b = t;
  }
  return a;
}

/* The candidates that make the beam: heap[0, m), their Cands in cand. */
static int32_t gather(Decoder *d) {
  int32_t m = d->n;  /* the prefixes, heapified at once (n <= width) */
  for (int32_t r = 0; r < m; r++) {
    d->cand[r] = (Cand){d->new_score[r], 0};
    d->heap[r] = make_key(d, d->new_score[r], d->cur.chr[r], r), d->heap[r].i = (uint32_t)r;
  }
  for (int32_t i = m / 2 - 1; i >= 0; i--) sift_down(d->heap, m, i);
  if (d->has_lm) {
    for (int32_t r = 0; r < d->n && !d->err; r++) {  /* the labels the vocabulary allows */
      int32_t st = d->cur.state[r];
      if (!(d->cur.score[r] > NEG_INF)) continue;
      for (int64_t a = d->arc_start[st]; a < d->arc_start[st + 1]; a++)
        if (d->class_pos[d->arc_class[a]] >= 0)
          offer_extension(d, &m, r, d->class_pos[d->arc_class[a]]);
    }
  } else {
    offer_all(d, &m);
  }
  return m;
}

/* nxt row j := prefix r after the merge, or the new prefix r + cidx[k] (key's position). */
static int build_row(Decoder *d, int32_t j, const Key *key, int32_t t) {
  Rows *o = &d->nxt, *s = &d->cur;
  int64_t pos = (int64_t)(key->lo & ((1ULL << d->pos_bits) - 1));
  int32_t label = (int32_t)(key->lo >> d->pos_bits) - 1;
  const Cand *c = &d->cand[key->i];
  if (pos < d->n) {
    int32_t r = (int32_t)pos;
    o->score[j] = d->new_score[r], o->b[j] = d->bcur[r], o->nb[j] = d->new_nb[r];
    o->lms[j] = s->lms[r], o->lme[j] = s->lme[r], o->chr[j] = s->chr[r];
    o->tok[j] = s->tok[r], o->ts[j] = d->new_ts[r], o->state[j] = s->state[r];
    o->key[j] = s->key[r], o->pkey[j] = s->pkey[r];
    return 0;
  }
  int32_t r = (int32_t)((pos - d->n) / d->k);
  o->score[j] = o->nb[j] = c->s, o->b[j] = NEG_INF, o->lms[j] = o->lme[j] = NAN;
  o->chr[j] = label, o->key[j] = mix(s->key[r], label), o->pkey[j] = s->key[r];
  /* A finished word restarts the trie walk. */
  o->state[j] = d->has_lm ? (d->finals[c->nx] ? d->root_state : c->nx) : 0;
  o->tok[j] = pool_add(&d->tokens, label, s->tok[r]);
  o->ts[j] = pool_add(&d->steps, t, s->ts[r]);
  return o->tok[j] < 0 || o->ts[j] < 0 ? ERR_MEMORY : 0;
}

/* Column of each class this step, the blank's column and the min-cutoff. */
static void prepare(Decoder *d, const int32_t *cidx, const float *lp, int32_t k, double pb) {
  for (int32_t i = 0; i < d->n_classes; i++) d->class_pos[i] = -1;
  d->cidx = cidx, d->lp = lp, d->k = k, d->err = 0;
  for (int32_t i = 0; i < k; i++) d->class_pos[cidx[i]] = i;
  d->kb = d->class_pos[d->blank];
  d->has_cutoff = d->has_lm && d->n == d->width;
  if (d->has_cutoff) {  /* float + double - double, stored in a float, as the client */
    double log_blank = pb > 0 ? log(pb) : NEG_INF;
    d->cutoff = (float)((double)d->cur.score[d->n - 1] + log_blank - fmax(0.0, d->beta));
  }
}

static int step(Decoder *d, int32_t t, const int32_t *cidx, const float *lp, int32_t k,
                double p_blank) {
  prepare(d, cidx, lp, k, p_blank);
  link_parents(d);
  int err = merge(d, t);
  int32_t m = err ? 0 : gather(d);
  if (err || d->err) return err ? err : d->err;
  Key *best = sort_best_first(d, m);
  for (int32_t j = 0; j < m; j++)
    if ((err = build_row(d, j, &best[j], t))) return err;
  Rows tmp = d->cur;
  d->cur = d->nxt, d->nxt = tmp, d->n = m;
  if (d->tokens.size > d->tokens.limit && pool_collect(&d->tokens, d->cur.tok, m))
    return ERR_MEMORY;
  if (d->steps.size > d->steps.limit && pool_collect(&d->steps, d->cur.ts, m))
    return ERR_MEMORY;
  return 0;
}

/* ---- API (dstorch/decoder/native.py) ---- */

/* LM terms by n-gram for searches with the same labels, scorer, alpha and hot words, one
 * search at a time; slots are allocated on first use. NULL: out of memory. */
Cache *dk_cache_new(void) { return calloc(1, sizeof(Cache)); }
void dk_cache_free(Cache *c) { free(c ? c->s : NULL), free(c); }
int64_t dk_cache_size(const Cache *c) { return c->used; }

/* Steps t0 .. t0 + T - 1 with LM terms from cache (NULL without an LM): classes cidx
 * [T, kmax] (the first nk[t] valid), their float32 log probs lp [T, kmax], P(blank) [T].
 * 0, or an error (the beam is then undefined). */
int dk_run(Decoder *d, Cache *cache, int32_t t0, int32_t T, int32_t kmax,
           const int32_t *cidx, const float *lp, const int32_t *nk, const double *p_blank) {
  d->cache = cache;
  for (int32_t t = 0; t < T; t++) {
    int64_t o = (int64_t)t * kmax;
    int err = step(d, t0 + t, cidx + o, lp + o, nk[t], p_blank[t]);
    if (err) return err;
  }
  return 0;
}

/* Final scores [n] (unfinished last word scored, DecoderState::decode) and labels [n]. */
int dk_final(Decoder *d, Cache *cache, float *score, int32_t *chr) {
  d->cache = cache;
  for (int32_t r = 0; r < d->n; r++) {
    score[r] = d->cur.score[r], chr[r] = d->cur.chr[r];
    if (!d->has_lm || chr[r] == -1 || chr[r] == d->space) continue;
    int err = lm_terms(d, r);
    if (err) return err;
    score[r] += (float)((double)d->cur.lme[r] + d->beta);
  }
  return d->n;
}

/* Labels (pool 0) or timesteps (pool 1) of prefix r, first to last; returns the length,
 * writing at most cap. */
int32_t dk_chain(Decoder *d, int32_t pool, int32_t r, int32_t *out, int32_t cap) {
  Pool *p = pool ? &d->steps : &d->tokens;
  int32_t n = 0, first = pool ? d->cur.ts[r] : d->cur.tok[r];
  for (int32_t i = first; i >= 0; i = p->e[i][1]) n++;
  for (int32_t i = first, j = n; i >= 0; i = p->e[i][1])
    if (--j < cap) out[j] = p->e[i][0];
  return n;
}

int64_t dk_pool_size(Decoder *d, int32_t pool) { return pool ? d->steps.size : d->tokens.size; }

void dk_free(Decoder *d) {
  if (!d) return;
  void *all[] = {d->cur.key, d->nxt.key, d->tokens.e, d->steps.e, d->pi, d->labels,
                 d->cand, d->heap};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++) free(all[i]);
  free(d);
}

static int alloc_rows(Rows *w, int32_t n) {  /* one block: w->key owns it */
  w->key = malloc((size_t)n * (2 * sizeof(uint64_t) + 5 * sizeof(float) + 4 * sizeof(int32_t)));
  if (!w->key) return 0;
  w->pkey = w->key + n;
  w->score = (float *)(w->pkey + n), w->b = w->score + n, w->nb = w->b + n;
  w->lms = w->nb + n, w->lme = w->lms + n;
  w->chr = (int32_t *)(w->lme + n), w->tok = w->chr + n, w->ts = w->tok + n;
  w->state = w->ts + n;
  return 1;
}

static int alloc_scratch(Decoder *d) {  /* one block for the [width] arrays: d->pi owns it */
  int64_t w = d->width, c = d->n_classes;
  for (d->n_slots = 4; d->n_slots < 2 * w; d->n_slots *= 2) {}
  d->pi = malloc((4 * w + 2 * c + d->n_slots) * sizeof(int32_t) + 3 * w * sizeof(float) +
                 w * c);
  d->cand = malloc(w * sizeof(Cand)), d->labels = malloc(64 * sizeof(int32_t));
  d->heap = malloc(2 * w * sizeof(Key)), d->keys = d->heap + w, d->labels_cap = 64;
  if (!d->pi || !d->cand || !d->labels || !d->heap) return 0;
  d->kc = d->pi + w, d->new_ts = d->kc + w + c;  /* kc: + columns sorted by lp */
  d->class_pos = d->new_ts + w, d->slots = d->class_pos + c;
  d->bcur = (float *)(d->slots + d->n_slots), d->new_nb = d->bcur + w;
  d->new_score = d->new_nb + w, d->consumed = (uint8_t *)(d->new_score + w);
  return 1;
}

/* A decoder holding the empty prefix. With has_lm, table/arc_start/arc_class/finals/lm
 * must stay valid for its lifetime. NULL: out of memory. */
Decoder *dk_new(int32_t width, int32_t blank, int32_t space, int32_t has_lm, int32_t order,
                double beta, const int32_t *table, const int64_t *arc_start,
                const int32_t *arc_class, const uint8_t *finals, int32_t root_state, lm_fn lm,
                int64_t min_collect) {
  Decoder *d = calloc(1, sizeof *d);
  if (!d) return NULL;
  *d = (Decoder){.width = width, .n_classes = blank + 1, .blank = blank, .space = space,
                 .order = order, .root_state = root_state, .has_lm = has_lm, .beta = beta,
                 .table = table, .arc_start = arc_start, .arc_class = arc_class,
                 .finals = finals, .lm = lm, .n = 1};
  int32_t label_bits = 0;  /* positions < width * (classes + 1), labels + 1 <= classes */
  while (((int64_t)width * (blank + 2)) >> d->pos_bits) d->pos_bits++;
  while ((int64_t)(blank + 1) >> label_bits) label_bits++;
  d->lo_bytes = (d->pos_bits + label_bits + 7) / 8;
  if (d->pos_bits + label_bits > 64) return free(d), NULL;  /* no such beam fits in memory */
  d->tokens.min_collect = d->tokens.limit = min_collect;
  d->steps.min_collect = d->steps.limit = min_collect;
  if (!alloc_rows(&d->cur, width) || !alloc_rows(&d->nxt, width) || !alloc_scratch(d)) {
    dk_free(d);
    return NULL;
  }
  Rows *c = &d->cur;  /* the empty prefix: P(blank) = 1; pkey 1 matches no prefix */
  c->score[0] = c->b[0] = 0.0f, c->nb[0] = NEG_INF, c->lms[0] = c->lme[0] = NAN;
  c->chr[0] = -1, c->tok[0] = c->ts[0] = -1, c->state[0] = root_state;
  c->key[0] = 0, c->pkey[0] = 1;
  return d;
}
