# Values for variables come from -var, -var-file and HERALD_VAR_<name>.
variable "holdout" {
  type    = number
  default = 0.05
}

variable "region" {
  type = string
}
