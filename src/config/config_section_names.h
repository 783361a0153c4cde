/* The sections of a VM configuration document, by name: the table
 * (config/config_sections.c) and the export (config/vm_config_json.c)
 * both name them from here. */
#ifndef TERN_CONFIG_CONFIG_SECTION_NAMES_H
#define TERN_CONFIG_CONFIG_SECTION_NAMES_H

#define CONFIG_SECTION_BOOT_SOURCE "boot-source"
#define CONFIG_SECTION_MACHINE "machine-config"
#define CONFIG_SECTION_LOGGER "logger"
#define CONFIG_SECTION_METRICS "metrics"
#define CONFIG_SECTION_ENTROPY "entropy"
#define CONFIG_SECTION_VSOCK "vsock"
#define CONFIG_SECTION_NETS "network-interfaces"
#define CONFIG_SECTION_DRIVES "drives"
#define CONFIG_SECTION_PMEM "pmem"
#define CONFIG_SECTION_BALLOON "balloon"
#define CONFIG_SECTION_MEMORY_HOTPLUG "memory-hotplug"
#define CONFIG_SECTION_MMDS "mmds-config"
#define CONFIG_SECTION_CPU_CONFIG "cpu-config"
#define CONFIG_SECTION_TERN "tern"

#endif
