/* Random ABI types and values for the ABI tests, and their textual forms for cast. */
#ifndef SIBYL_TESTS_ORACLE_ABI_RANDOM_H
#define SIBYL_TESTS_ORACLE_ABI_RANDOM_H

#include <stddef.h>

#include "oracle/abi.h"
#include "oracle/buf.h"

/* Appends a random canonical type string (nesting up to max_depth) to out. */
void ar_type(buf *out, int max_depth);
/* Fills v with a random value of type t. */
void ar_value(const abi_type *t, abi_value *v);
/* v as a cast command-line argument ("[1,2]", "(0xab,true)", "-5", "\"str\""). */
void ar_cast_arg(const abi_type *t, const abi_value *v, buf *out);
/* v as cast abi-decode --json prints it, whitespace-free, with every number unquoted. */
void ar_cast_json(const abi_type *t, const abi_value *v, buf *out);
/* Removes whitespace outside strings and the quotes around strings that are integers. */
void ar_normalise_json(const char *in, buf *out);

#endif
