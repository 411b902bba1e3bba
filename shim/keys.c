/*
 * keys.c — pthread keys: glibc keeps the values (in the task's TCB, so they are per task
 * already); the shim remembers each key's destructor to run them when a task ends, as glibc's
 * thread exit does for its own threads: up to PTHREAD_DESTRUCTOR_ITERATIONS rounds while
 * values remain.
 */
#include "shim.h"

#include <limits.h>

static void (*_Atomic destructors[PTHREAD_KEYS_MAX])(void *);
static _Atomic unsigned keys_end; /* one past the highest key ever given a destructor */

GR_EXPORT int pthread_key_create(pthread_key_t *key, void (*destructor)(void *))
{
	SHIM_CALLED(pthread_key_create);
	int err = REAL(pthread_key_create)(key, destructor);
	unsigned end;

	if (err || *key >= PTHREAD_KEYS_MAX)
		return err;
	atomic_store(&destructors[*key], destructor);
	end = atomic_load(&keys_end);
	while (end <= *key && !atomic_compare_exchange_weak(&keys_end, &end, *key + 1))
		;
	return 0;
}

GR_EXPORT int pthread_key_delete(pthread_key_t key)
{
	SHIM_CALLED(pthread_key_delete);
	if (key < PTHREAD_KEYS_MAX)
		atomic_store(&destructors[key], NULL);
	return REAL(pthread_key_delete)(key);
}

void shim_run_key_destructors(void)
{
	unsigned end = atomic_load(&keys_end);

	for (int round = 0; round < PTHREAD_DESTRUCTOR_ITERATIONS; round++) {
		bool ran = false;

		for (unsigned k = 0; k < end; k++) {
			void (*d)(void *) = atomic_load(&destructors[k]);
			void *value;

			if (!d || !(value = pthread_getspecific(k)))
				continue;
			pthread_setspecific(k, NULL);
			d(value);
			ran = true;
		}
		if (!ran)
			break;
	}
}
