package lang

// sensitiveText stands for the value of a sensitive variable wherever a
// diagnostic would quote it.
const sensitiveText = "(sensitive value)"
