#include "migration/migration_receive.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "config/config_check.h"
#include "snapshot/state_file.h"
#include "snapshot/state_sequence.h"

/* The checks every other way of sizing a VM goes through (--cpus,
 * --memory, the config file, the API): a source may not ask for what a
 * user could not. (Its mapping size is checked against the VM made from
 * these, in migration_receive_vm().) */
static int check_machine(const struct migration_machine *machine,
			 struct tern_error *err)
{
	char shown[32];
	int ret;

	snprintf(shown, sizeof(shown), "%llu bytes",
		 (unsigned long long)machine->memory_size);
	ret = config_check_cpu_count("the migrating VM's vCPU count",
				     machine->vcpu_count, err);
	if (!ret)
		ret = config_check_memory("the migrating VM's memory",
					  machine->memory_size, shown, err);
	return ret;
}

int migration_receive_machine(struct migration_stream *stream,
			      struct migration_machine *machine,
			      struct tern_error *err)
{
	uint8_t out[MIGRATION_HANDSHAKE_SIZE], in[MIGRATION_HANDSHAKE_SIZE];
	uint8_t *payload = NULL;
	uint32_t type, length;
	int ret;

	migration_wire_handshake(out);
	ret = migration_stream_read_all(stream, in, sizeof(in));
	if (!ret)
		ret = migration_stream_write_all(stream, out, sizeof(out));
	if (ret)
		return tern_error_set(err, -ret,
				      "migration handshake with the source: "
				      "%s",
				      ret == -EPIPE ? "connection closed"
						    : strerror(-ret));
	ret = migration_wire_check_handshake(in, err);
	if (!ret)
		ret = migration_recv_message(stream, &type, &payload, &length,
					     err);
	if (!ret && type != MIGRATION_MSG_MACHINE)
		ret = tern_error_set(err, EPROTO,
				     "the migration stream starts with "
				     "message type %u, not the machine",
				     type);
	if (!ret)
		ret = migration_wire_parse_machine(payload, length, machine,
						   err);
	if (!ret)
		ret = check_machine(machine, err);
	free(payload);
	return ret;
}

/* RAM arrived already: the same two passes as a snapshot load. */
static int restore_state(struct vm *vm, const struct state_file *sf,
			 struct tern_error *err)
{
	int ret = state_sequence_check(vm, sf, err);

	if (!ret)
		ret = state_sequence_restore(vm, sf, err);
	return ret;
}

int migration_receive_vm(struct vm *vm, struct migration_stream *stream,
			 const struct migration_machine *machine,
			 struct tern_error *err)
{
	struct state_file sf;
	int have_state = 0, ret = 0;

	if (vm->memory.mapping_size != machine->mapping_size ||
	    vm->memory.ram_size != machine->memory_size)
		return tern_error_set(
			err, EINVAL,
			"the migrating VM's RAM is laid out as "
			"%llu bytes; this VM has %llu",
			(unsigned long long)machine->mapping_size,
			(unsigned long long)vm->memory.mapping_size);
	memset(&sf, 0, sizeof(sf));
	for (;;) {
		uint8_t *payload = NULL;
		uint32_t type, length;
		const uint8_t *pages;
		size_t pages_len;
		uint64_t offset;

		ret = migration_recv_message(stream, &type, &payload, &length,
					     err);
		if (ret)
			break;
		if (type == MIGRATION_MSG_RAM) {
			ret = migration_wire_parse_ram(
				payload, length, vm->memory.mapping_size,
				&offset, &pages, &pages_len, err);
			if (!ret)
				memcpy(vm->memory.mapping + offset, pages,
				       pages_len);
			free(payload);
		} else if (type == MIGRATION_MSG_STATE && !have_state) {
			/* The parser takes the buffer over. */
			ret = state_file_parse(&sf, payload, length, err);
			have_state = !ret;
		} else if (type == MIGRATION_MSG_SYNC) {
			free(payload);
			ret = migration_send_message(stream, MIGRATION_MSG_SYNC,
						     NULL, 0);
			if (ret)
				ret = tern_error_set(err, -ret,
						     "migration stream: %s",
						     strerror(-ret));
		} else if (type == MIGRATION_MSG_END) {
			free(payload);
			if (!have_state)
				ret = tern_error_set(err, EPROTO,
						     "the migration stream "
						     "ended without the VM "
						     "state");
			break;
		} else {
			free(payload);
			ret = tern_error_set(err, EPROTO,
					     "unexpected migration message "
					     "type %u",
					     type);
		}
		if (ret)
			break;
	}
	if (!ret)
		ret = restore_state(vm, &sf, err);
	state_file_free(&sf);
	return ret;
}

void migration_send_refusal(struct migration_stream *stream, const char *reason)
{
	size_t len = strnlen(reason, MIGRATION_MAX_ERROR_SIZE);

	(void)migration_send_message(stream, MIGRATION_MSG_ERROR, reason,
				     (uint32_t)len);
}

int migration_send_ack(struct migration_stream *stream, struct tern_error *err)
{
	int ret = migration_send_message(stream, MIGRATION_MSG_ACK, NULL, 0);

	if (ret)
		return tern_error_set(err, -ret,
				      "cannot acknowledge the migration: %s",
				      strerror(-ret));
	return 0;
}
