/*-------------------------------------------------------------------------
 *
 * tenants.h
 *	  Who a call is made for, and what that role may see (tenants.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef PI_TENANTS_H
#define PI_TENANTS_H

extern char *pi_caller_name(void);
extern bool pi_role_is_admin(const char *role);
extern bool pi_caller_sees(const char *owner);
extern char *pi_dataset_schema(const char *role);
extern bool pi_is_dataset_schema(const char *nspname);

#endif							/* PI_TENANTS_H */
