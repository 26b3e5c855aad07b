// placeholder: implementation pending
typedef int pb_placeholder_cpu_ops;
