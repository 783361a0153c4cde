#include "ternd/prom_merge.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct family {
	char *name;
	char *type; /* counter, gauge, histogram, summary, untyped */
	char *help; /* unescaped; NULL for none */
	char *samples; /* rendered lines */
	size_t len, cap;
	/* While one text is added: what it said of this family. */
	int text_help, text_type, text_samples;
};

struct prom_merge {
	struct family *families;
	size_t count, cap;
};

struct prom_merge *prom_merge_new(void)
{
	return calloc(1, sizeof(struct prom_merge));
}

static void family_free(struct family *f)
{
	free(f->name);
	free(f->type);
	free(f->help);
	free(f->samples);
}

void prom_merge_free(struct prom_merge *pm)
{
	if (!pm)
		return;
	for (size_t i = 0; i < pm->count; i++)
		family_free(&pm->families[i]);
	free(pm->families);
	free(pm);
}

static struct family *find(struct prom_merge *pm, const char *name, size_t len)
{
	for (size_t i = 0; i < pm->count; i++) {
		struct family *f = &pm->families[i];

		if (strlen(f->name) == len && !memcmp(f->name, name, len))
			return f;
	}
	return NULL;
}

static struct family *add_family(struct prom_merge *pm, const char *name,
				 size_t len, const char *type)
{
	struct family *f;

	if (pm->count == PROM_MERGE_MAX_FAMILIES)
		return NULL;
	if (pm->count == pm->cap) {
		size_t cap = pm->cap ? pm->cap * 2 : 32;
		struct family *grown =
			realloc(pm->families, cap * sizeof(*grown));

		if (!grown)
			return NULL;
		pm->families = grown;
		pm->cap = cap;
	}
	f = &pm->families[pm->count];
	*f = (struct family){.name = strndup(name, len), .type = strdup(type)};
	if (!f->name || !f->type) {
		family_free(f);
		return NULL;
	}
	pm->count++;
	return f;
}

static int append(struct family *f, const char *data, size_t len)
{
	if (f->len + len + 1 > f->cap) {
		size_t cap = f->cap ? f->cap : 256;
		char *grown;

		while (cap < f->len + len + 1)
			cap *= 2;
		grown = realloc(f->samples, cap);
		if (!grown)
			return -1;
		f->samples = grown;
		f->cap = cap;
	}
	memcpy(f->samples + f->len, data, len);
	f->len += len;
	f->samples[f->len] = '\0';
	return 0;
}

static int append_str(struct family *f, const char *s)
{
	return append(f, s, strlen(s));
}

/* A label value or HELP text, escaped as the format wants: backslash,
 * newline, and (in label values) the double quote. */
static int append_escaped(struct family *f, const char *s, size_t len,
			  int quote)
{
	for (size_t i = 0; i < len; i++) {
		const char *out = NULL;

		if (s[i] == '\\')
			out = "\\\\";
		else if (s[i] == '\n')
			out = "\\n";
		else if (s[i] == '"' && quote)
			out = "\\\"";
		if (out ? append_str(f, out) : append(f, &s[i], 1))
			return -1;
	}
	return 0;
}

static int is_name_start(char c, int colon)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
		(colon && c == ':');
}

static int is_name_char(char c, int colon)
{
	return is_name_start(c, colon) || (c >= '0' && c <= '9');
}

/* The length of the metric (colon) or label name at s, 0 for none. */
static size_t name_len(const char *s, const char *end, int colon)
{
	size_t n = 0;

	if (s >= end || !is_name_start(*s, colon))
		return 0;
	while (s + n < end && is_name_char(s[n], colon))
		n++;
	return n;
}

int prom_merge_family(struct prom_merge *pm, const char *name, const char *type,
		      const char *help)
{
	struct family *f;

	if (find(pm, name, strlen(name)))
		return -1;
	f = add_family(pm, name, strlen(name), type);
	if (!f)
		return -1;
	f->help = strdup(help);
	return f->help ? 0 : -1;
}

/* The value as Prometheus writes it: integers without a fraction. */
static void format_value(char *buf, size_t size, double value)
{
	if (isnan(value))
		snprintf(buf, size, "NaN");
	else if (isinf(value))
		snprintf(buf, size, value > 0 ? "+Inf" : "-Inf");
	else if (value == (double)(long long)value && fabs(value) < 1e15)
		snprintf(buf, size, "%lld", (long long)value);
	else {
		/* The shortest text that reads back as the same double. */
		for (int precision = 15; precision <= 17; precision++) {
			snprintf(buf, size, "%.*g", precision, value);
			if (strtod(buf, NULL) == value)
				break;
		}
	}
}

/* The family a sample's name belongs to: its own, or the histogram or
 * summary it is a _bucket, _sum or _count of. */
static struct family *family_of(struct prom_merge *pm, const char *name,
				size_t len)
{
	static const char *const suffixes[] = {"_bucket", "_sum", "_count"};
	struct family *f = find(pm, name, len);

	if (f)
		return f;
	for (size_t i = 0; i < 3; i++) {
		size_t slen = strlen(suffixes[i]);

		if (len <= slen || memcmp(name + len - slen, suffixes[i], slen))
			continue;
		f = find(pm, name, len - slen);
		if (f &&
		    (!strcmp(f->type, "histogram") ||
		     (i > 0 && !strcmp(f->type, "summary"))))
			return f;
	}
	return NULL;
}

int prom_merge_sample(struct prom_merge *pm, const char *name, double value,
		      ...)
{
	struct family *f = family_of(pm, name, strlen(name));
	const char *label, *sep = "{";
	char number[40];
	va_list ap;
	int ret = 0;

	if (!f)
		return -1;
	ret |= append_str(f, name);
	va_start(ap, value);
	while ((label = va_arg(ap, const char *))) {
		const char *text = va_arg(ap, const char *);

		ret |= append_str(f, sep);
		ret |= append_str(f, label);
		ret |= append_str(f, "=\"");
		ret |= append_escaped(f, text, strlen(text), 1);
		ret |= append_str(f, "\"");
		sep = ",";
	}
	va_end(ap);
	if (strcmp(sep, "{"))
		ret |= append_str(f, "}");
	format_value(number, sizeof(number), value);
	ret |= append_str(f, " ");
	ret |= append_str(f, number);
	ret |= append_str(f, "\n");
	return ret ? -1 : 0;
}

/* ---- one VM's text ---- */

struct parse {
	struct prom_merge *pm;
	const char *vm;
	struct tern_error *err;
	int line_no;
	char *label_buf; /* scratch for one sample's labels, rendered */
	size_t label_cap;
};

static int refuse(struct parse *p, const char *why)
{
	return tern_error_set(p->err, EINVAL, "line %d: %s", p->line_no, why);
}

static const char *skip_blanks(const char *s, const char *end)
{
	while (s < end && (*s == ' ' || *s == '\t'))
		s++;
	return s;
}

/* Unescapes HELP text (\\ and \n only, as Prometheus's parser). */
static char *help_text(const char *s, const char *end)
{
	char *out = malloc((size_t)(end - s) + 1), *o = out;

	if (!out)
		return NULL;
	while (s < end) {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		if (s + 1 == end || (s[1] != '\\' && s[1] != 'n')) {
			free(out);
			errno = EINVAL;
			return NULL;
		}
		*o++ = s[1] == 'n' ? '\n' : '\\';
		s += 2;
	}
	*o = '\0';
	return out;
}

static int is_type(const char *s, size_t len)
{
	static const char *const types[] = {"counter", "gauge", "histogram",
					    "summary", "untyped"};

	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (strlen(types[i]) == len && !memcmp(types[i], s, len))
			return 1;
	return 0;
}

static int reserved(const char *name, size_t len)
{
	return len >= 6 && !memcmp(name, "ternd_", 6);
}

static int parse_comment(struct parse *p, const char *s, const char *end)
{
	const char *word = skip_blanks(s + 1, end), *name, *rest;
	size_t wlen = 0, nlen;
	struct family *f;
	int help;

	while (word + wlen < end && word[wlen] != ' ' && word[wlen] != '\t')
		wlen++;
	if (wlen == 4 && !memcmp(word, "HELP", 4))
		help = 1;
	else if (wlen == 4 && !memcmp(word, "TYPE", 4))
		help = 0;
	else
		return 0; /* another comment */
	name = skip_blanks(word + wlen, end);
	if (name == word + wlen)
		return refuse(p, "# HELP or # TYPE without a metric name");
	nlen = name_len(name, end, 1);
	rest = name + nlen;
	if (!nlen || (rest < end && *rest != ' ' && *rest != '\t'))
		return refuse(p, "not a metric name");
	if (reserved(name, nlen))
		return refuse(p, "a family named ternd_ (ternd's own)");
	rest = skip_blanks(rest, end);
	f = find(p->pm, name, nlen);
	if (f && f->text_samples)
		return refuse(p, "# HELP or # TYPE after the family's samples");
	if (help) {
		char *text;

		if (f && f->text_help)
			return refuse(p, "a second # HELP for the family");
		text = help_text(rest, end);
		if (!text)
			return errno == ENOMEM
				? tern_error_set(p->err, ENOMEM,
						 "out of memory")
				: refuse(p, "a bad escape in # HELP");
		if (!f)
			f = add_family(p->pm, name, nlen, "untyped");
		if (!f) {
			free(text);
			return tern_error_set(p->err, ENOMEM,
					      "too many families");
		}
		f->text_help = 1;
		if (!f->help)
			f->help = text;
		else
			free(text); /* another VM's HELP came first */
		return 0;
	}
	{
		const char *type_end = rest;

		while (type_end < end && *type_end != ' ' && *type_end != '\t')
			type_end++;
		if (!is_type(rest, (size_t)(type_end - rest)) ||
		    skip_blanks(type_end, end) != end)
			return refuse(p,
				      "# TYPE is counter, gauge, "
				      "histogram, summary or untyped");
		if (f && f->text_type)
			return refuse(p, "a second # TYPE for the family");
		if (!f) {
			f = add_family(p->pm, name, nlen, "untyped");
			if (!f)
				return tern_error_set(p->err, ENOMEM,
						      "too many families");
			f->text_type = 1;
			free(f->type);
			f->type = strndup(rest, (size_t)(type_end - rest));
			return f->type ? 0
				       : tern_error_set(p->err, ENOMEM,
							"out of memory");
		}
		f->text_type = 1;
		if (strlen(f->type) != (size_t)(type_end - rest) ||
		    memcmp(f->type, rest, strlen(f->type))) {
			/* Only this text's own HELP made the family: it may
			 * still say its type. */
			if (f->len == 0 && f->text_help &&
			    !strcmp(f->type, "untyped")) {
				char *type = strndup(rest,
						     (size_t)(type_end - rest));

				if (!type)
					return tern_error_set(p->err, ENOMEM,
							      "out of memory");
				free(f->type);
				f->type = type;
				return 0;
			}
			return refuse(p,
				      "a # TYPE that disagrees with the "
				      "family's from another source");
		}
		return 0;
	}
}

/* A sample value: a decimal float, Inf or NaN; the length, 0 for none. */
static size_t value_len(const char *s, const char *end)
{
	static const char *const words[] = {"+Inf", "-Inf", "Inf", "NaN"};
	size_t n = 0, digits = 0;

	for (size_t i = 0; i < 4; i++) {
		size_t wlen = strlen(words[i]);

		if ((size_t)(end - s) >= wlen && !memcmp(s, words[i], wlen))
			return wlen;
	}
	if (s + n < end && (s[n] == '+' || s[n] == '-'))
		n++;
	while (s + n < end && s[n] >= '0' && s[n] <= '9')
		n++, digits++;
	if (s + n < end && s[n] == '.') {
		n++;
		while (s + n < end && s[n] >= '0' && s[n] <= '9')
			n++, digits++;
	}
	if (!digits)
		return 0;
	if (s + n < end && (s[n] == 'e' || s[n] == 'E')) {
		size_t e = n + 1, edigits = 0;

		if (s + e < end && (s[e] == '+' || s[e] == '-'))
			e++;
		while (s + e < end && s[e] >= '0' && s[e] <= '9')
			e++, edigits++;
		if (!edigits)
			return 0;
		n = e;
	}
	return n;
}

/* Appends ,name="value" for each of the sample's labels to p->label_buf
 * (via a scratch family) and returns the position after '}'. */
static const char *parse_labels(struct parse *p, const char *s, const char *end,
				struct family *out, int *failed)
{
	/* The label names seen, to refuse a repeated one. */
	const char *seen[64];
	size_t seen_len[64], nseen = 0;

	s++; /* '{' */
	for (;;) {
		size_t nlen;
		const char *name;

		s = skip_blanks(s, end);
		if (s < end && *s == '}')
			return s + 1;
		name = s;
		nlen = name_len(s, end, 0);
		if (!nlen) {
			*failed = refuse(p, "not a label name");
			return NULL;
		}
		if (nlen == 2 && !memcmp(name, "vm", 2)) {
			*failed = refuse(p, "a label named vm (ternd's)");
			return NULL;
		}
		for (size_t i = 0; i < nseen; i++)
			if (seen_len[i] == nlen &&
			    !memcmp(seen[i], name, nlen)) {
				*failed = refuse(p, "a label given twice");
				return NULL;
			}
		if (nseen == 64) {
			*failed = refuse(p, "more than 64 labels");
			return NULL;
		}
		seen[nseen] = name;
		seen_len[nseen++] = nlen;
		s = skip_blanks(s + nlen, end);
		if (s >= end || *s != '=') {
			*failed = refuse(p, "a label without '='");
			return NULL;
		}
		s = skip_blanks(s + 1, end);
		if (s >= end || *s != '"') {
			*failed = refuse(p, "a label value not in quotes");
			return NULL;
		}
		s++;
		if (append_str(out, ",") || append(out, name, nlen) ||
		    append_str(out, "=\"")) {
			*failed =
				tern_error_set(p->err, ENOMEM, "out of memory");
			return NULL;
		}
		while (s < end && *s != '"') {
			char c = *s;

			if (c == '\\') {
				if (s + 1 == end ||
				    (s[1] != '\\' && s[1] != 'n' &&
				     s[1] != '"')) {
					*failed = refuse(p,
							 "a bad escape in a "
							 "label value");
					return NULL;
				}
				c = s[1] == 'n' ? '\n' : s[1];
				s++;
			}
			s++;
			if (append_escaped(out, &c, 1, 1)) {
				*failed = tern_error_set(p->err, ENOMEM,
							 "out of memory");
				return NULL;
			}
		}
		if (s >= end) {
			*failed = refuse(p, "a label value without its end");
			return NULL;
		}
		s++;
		if (append_str(out, "\"")) {
			*failed =
				tern_error_set(p->err, ENOMEM, "out of memory");
			return NULL;
		}
		s = skip_blanks(s, end);
		if (s < end && *s == ',') {
			s++;
			continue;
		}
		if (s < end && *s == '}')
			return s + 1;
		*failed = refuse(p, "labels not separated by ','");
		return NULL;
	}
}

static int parse_sample(struct parse *p, const char *s, const char *end)
{
	struct family labels = {0};
	size_t nlen = name_len(s, end, 1), vlen;
	const char *name = s, *value, *ts;
	struct family *f;
	int failed = 0;

	if (!nlen)
		return refuse(p, "not a metric name");
	if (reserved(name, nlen))
		return refuse(p, "a family named ternd_ (ternd's own)");
	s += nlen;
	if (s < end && *s == '{') {
		s = parse_labels(p, s, end, &labels, &failed);
		if (!s) {
			free(labels.samples);
			return failed;
		}
	}
	value = skip_blanks(s, end);
	vlen = value_len(value, end);
	if (value == s || !vlen ||
	    (value + vlen < end && value[vlen] != ' ' && value[vlen] != '\t')) {
		free(labels.samples);
		return refuse(p, "not a sample value");
	}
	ts = skip_blanks(value + vlen, end);
	s = ts;
	if (s < end && *s == '-')
		s++;
	while (s < end && *s >= '0' && *s <= '9')
		s++;
	if ((s == ts && ts != end) || skip_blanks(s, end) != end ||
	    s - ts > 20) {
		free(labels.samples);
		return refuse(p, "not a timestamp after the value");
	}
	f = family_of(p->pm, name, nlen);
	if (!f)
		f = add_family(p->pm, name, nlen, "untyped");
	if (!f) {
		free(labels.samples);
		return tern_error_set(p->err, ENOMEM, "too many families");
	}
	f->text_samples = 1;
	failed = append(f, name, nlen) || append_str(f, "{vm=\"") ||
		append_escaped(f, p->vm, strlen(p->vm), 1) ||
		append_str(f, "\"") ||
		(labels.len && append(f, labels.samples, labels.len)) ||
		append_str(f, "} ") || append(f, value, vlen) ||
		(s > ts &&
		 (append_str(f, " ") || append(f, ts, (size_t)(s - ts)))) ||
		append_str(f, "\n");
	free(labels.samples);
	return failed ? tern_error_set(p->err, ENOMEM, "out of memory") : 0;
}

int prom_merge_add_text(struct prom_merge *pm, const char *vm, const char *text,
			size_t len, struct tern_error *err)
{
	size_t count = pm->count, *lens;
	struct parse p = {.pm = pm, .vm = vm, .err = err};
	const char *s = text, *end = text + len;
	int ret = 0;

	if (len > PROM_MERGE_MAX_TEXT)
		return tern_error_set(err, EINVAL, "larger than %d bytes",
				      PROM_MERGE_MAX_TEXT);
	if (memchr(text, '\0', len))
		return tern_error_set(err, EINVAL, "a NUL byte in the text");
	lens = malloc((count + 1) * sizeof(*lens));
	if (!lens)
		return tern_error_set(err, ENOMEM, "out of memory");
	for (size_t i = 0; i < count; i++)
		lens[i] = pm->families[i].len;
	while (s < end && !ret) {
		const char *nl = memchr(s, '\n', (size_t)(end - s));
		const char *line_end = nl ? nl : end;
		const char *first = skip_blanks(s, line_end);

		p.line_no++;
		if (first == line_end)
			; /* blank */
		else if (*first == '#')
			ret = parse_comment(&p, first, line_end);
		else
			ret = parse_sample(&p, first, line_end);
		s = nl ? nl + 1 : end;
	}
	for (size_t i = 0; i < pm->count; i++) {
		struct family *f = &pm->families[i];

		f->text_help = f->text_type = f->text_samples = 0;
	}
	if (ret) {
		/* Nothing of this text stays. (A HELP it gave a family
		 * another source made is not kept either: only families
		 * without one take it, and those are all new.) */
		for (size_t i = count; i < pm->count; i++)
			family_free(&pm->families[i]);
		pm->count = count;
		for (size_t i = 0; i < count; i++) {
			pm->families[i].len = lens[i];
			if (pm->families[i].samples)
				pm->families[i].samples[lens[i]] = '\0';
		}
	}
	free(lens);
	return ret;
}

char *prom_merge_render(const struct prom_merge *pm)
{
	char *out = NULL;
	size_t size = 0;
	FILE *f = open_memstream(&out, &size);

	if (!f)
		return NULL;
	for (size_t i = 0; i < pm->count; i++) {
		const struct family *fam = &pm->families[i];

		if (fam->help) {
			fprintf(f, "# HELP %s ", fam->name);
			for (const char *c = fam->help; *c; c++) {
				if (*c == '\\')
					fputs("\\\\", f);
				else if (*c == '\n')
					fputs("\\n", f);
				else
					fputc(*c, f);
			}
			fputc('\n', f);
		}
		fprintf(f, "# TYPE %s %s\n", fam->name, fam->type);
		if (fam->len)
			fwrite(fam->samples, 1, fam->len, f);
	}
	if (fclose(f)) {
		free(out);
		return NULL;
	}
	return out;
}
