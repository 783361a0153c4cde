#include "metrics/metrics.h"

#include "metrics/fc_metrics.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct metrics_out {
	FILE *text; /* Prometheus, or NULL */
	json_t *group; /* JSON, or NULL */
};

void metrics_registry_init(struct metrics_registry *reg)
{
	memset(reg, 0, sizeof(*reg));
	pthread_mutex_init(&reg->lock, NULL);
}

void metrics_registry_destroy(struct metrics_registry *reg)
{
	pthread_mutex_destroy(&reg->lock);
}

int metrics_register(struct metrics_registry *reg, const char *name,
		     metrics_write_fn write, void *opaque,
		     struct tern_error *err)
{
	int ret = 0;

	pthread_mutex_lock(&reg->lock);
	if (reg->count == METRICS_MAX_SOURCES) {
		ret = tern_error_set(err, ENOSPC,
				     "too many metrics sources (%d)",
				     METRICS_MAX_SOURCES);
	} else {
		struct metrics_source *src = &reg->sources[reg->count++];

		snprintf(src->name, sizeof(src->name), "%s", name);
		src->write = write;
		src->fc_write = NULL;
		src->opaque = opaque;
	}
	pthread_mutex_unlock(&reg->lock);
	return ret;
}

void metrics_unregister(struct metrics_registry *reg, void *opaque)
{
	pthread_mutex_lock(&reg->lock);
	for (int i = 0; i < reg->count;) {
		if (reg->sources[i].opaque == opaque) {
			memmove(&reg->sources[i], &reg->sources[i + 1],
				(size_t)(reg->count - i - 1) *
					sizeof(reg->sources[0]));
			reg->count--;
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&reg->lock);
}

void metrics_set_firecracker(struct metrics_registry *reg, const char *name,
			     metrics_fc_fn fc_write)
{
	pthread_mutex_lock(&reg->lock);
	for (int i = 0; i < reg->count; i++)
		if (!strcmp(reg->sources[i].name, name))
			reg->sources[i].fc_write = fc_write;
	pthread_mutex_unlock(&reg->lock);
}

void metrics_family(struct metrics_out *out, const char *name,
		    enum metrics_type type, const char *help)
{
	if (!out->text)
		return;
	fprintf(out->text, "# HELP %s %s\n# TYPE %s %s\n", name, help, name,
		type == METRICS_COUNTER ? "counter" : "gauge");
}

/* Label values escape backslash, double quote and newline (exposition
 * format 0.0.4). */
static void write_label_value(FILE *text, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == '\\' || *p == '"')
			fprintf(text, "\\%c", *p);
		else if (*p == '\n')
			fputs("\\n", text);
		else
			fputc(*p, text);
	}
}

static void write_number(FILE *text, double value)
{
	if (value == floor(value) && fabs(value) < 1e15)
		fprintf(text, "%.0f\n", value);
	else
		fprintf(text, "%.6g\n", value);
}

static json_t *json_number(double value)
{
	if (value == floor(value) && fabs(value) < 9e15)
		return json_integer((json_int_t)value);
	return json_real(value);
}

void metrics_sample(struct metrics_out *out, const char *name, double value,
		    ...)
{
	const char *label;
	va_list args;
	json_t *entry = NULL;
	int labelled = 0;

	va_start(args, value);
	if (out->text)
		fputs(name, out->text);
	else
		entry = json_object();
	while ((label = va_arg(args, const char *))) {
		const char *label_value = va_arg(args, const char *);

		if (out->text) {
			fprintf(out->text, "%s%s=\"", labelled ? "," : "{",
				label);
			write_label_value(out->text, label_value);
			fputc('"', out->text);
		} else if (entry) {
			json_object_set_new(entry, label,
					    json_string(label_value));
		}
		labelled = 1;
	}
	va_end(args);
	if (out->text) {
		fputs(labelled ? "} " : " ", out->text);
		write_number(out->text, value);
		return;
	}
	if (!labelled) {
		json_decref(entry);
		json_object_set_new(out->group, name, json_number(value));
		return;
	}
	if (entry) {
		json_t *list = json_object_get(out->group, name);

		json_object_set_new(entry, "value", json_number(value));
		if (!list) {
			list = json_array();
			json_object_set_new(out->group, name, list);
		}
		json_array_append_new(list, entry);
	}
}

char *metrics_render_prometheus(struct metrics_registry *reg)
{
	struct metrics_out out = {0};
	char *text = NULL;
	size_t size = 0;

	out.text = open_memstream(&text, &size);
	if (!out.text)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	for (int i = 0; i < reg->count; i++)
		reg->sources[i].write(reg->sources[i].opaque, &out);
	pthread_mutex_unlock(&reg->lock);
	if (fclose(out.text)) {
		free(text);
		return NULL;
	}
	return text;
}

json_t *metrics_render_json(struct metrics_registry *reg)
{
	struct timespec now;
	json_t *doc = json_object();

	if (!doc)
		return NULL;
	clock_gettime(CLOCK_REALTIME, &now);
	json_object_set_new(doc, "utc_timestamp_ms",
			    json_integer((json_int_t)now.tv_sec * 1000 +
					 now.tv_nsec / 1000000));
	pthread_mutex_lock(&reg->lock);
	for (int i = 0; i < reg->count; i++) {
		struct metrics_out out = {.group = json_object()};

		if (!out.group)
			continue;
		reg->sources[i].write(reg->sources[i].opaque, &out);
		json_object_set_new(doc, reg->sources[i].name, out.group);
	}
	pthread_mutex_unlock(&reg->lock);
	return doc;
}

json_t *metrics_render_firecracker(struct metrics_registry *reg,
				   json_t *previous)
{
	struct timespec now;
	json_t *doc = fc_metrics_skeleton();

	if (!doc)
		return NULL;
	pthread_mutex_lock(&reg->lock);
	for (int i = 0; i < reg->count; i++)
		if (reg->sources[i].fc_write)
			reg->sources[i].fc_write(reg->sources[i].opaque, doc);
	clock_gettime(CLOCK_REALTIME, &now);
	fc_metrics_finish(doc, previous,
			  (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000);
	pthread_mutex_unlock(&reg->lock);
	return doc;
}
