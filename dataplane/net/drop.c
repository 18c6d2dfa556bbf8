/* SPDX-License-Identifier: MIT */
/*
 * Names and descriptions of the drop reasons declared in drop.h, for stats
 * export (control link, lepusctl) and test messages.
 */
#include "drop.h"

static const char *const drop_names[LP_DROP__COUNT] = {
#define LP_DROP_NAME(name, desc) #name,
	LP_DROP_REASONS(LP_DROP_NAME)
#undef LP_DROP_NAME
};

static const char *const drop_descriptions[LP_DROP__COUNT] = {
#define LP_DROP_DESC(name, desc) desc,
	LP_DROP_REASONS(LP_DROP_DESC)
#undef LP_DROP_DESC
};

const char *lp_drop_name(enum lp_drop_reason r)
{
	return (unsigned)r < LP_DROP__COUNT ? drop_names[r] : "UNKNOWN";
}

const char *lp_drop_description(enum lp_drop_reason r)
{
	return (unsigned)r < LP_DROP__COUNT ? drop_descriptions[r] : "unknown reason";
}
